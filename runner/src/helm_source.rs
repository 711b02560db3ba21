//! The chart templates behind rendered manifests: `helm template` writes
//! `# Source: <chart>/<path in the chart>` before each document it renders,
//! and a finding in the rendered stream is about that template. Reports name
//! it, and SARIF places the finding in the template's file in the repository
//! when `--source-root CHART=DIR` says where the chart is.
//!
//! The line inside the template is found, best effort, from the finding's
//! field: the line where the last key of the field's path (`mountPath`,
//! `env`) is written, when it is written on exactly one line of the
//! template; else the template is named without a line.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use crate::stream::is_separator;

/// The comment `helm template` writes before each rendered document.
const SOURCE_COMMENT: &str = "# Source: ";

/// The `# Source:` comment of each piece of a YAML stream, by the line
/// where the piece starts (pieces are split as [`crate::stream`] splits
/// them, at `---` lines). Only a comment among the lines before the piece's
/// first content line counts, as helm writes it.
#[derive(Debug, Default)]
pub struct Templates {
    /// (first line of the piece, its template), in increasing line order.
    pieces: Vec<(usize, Option<String>)>,
}

impl Templates {
    /// Reads the comments of `text` in one pass over its lines.
    pub fn of(text: &str) -> Templates {
        let mut pieces = vec![(1, None)];
        let mut leading = true;
        for (index, line) in text.split('\n').enumerate() {
            let line = line.strip_prefix(crate::position::BOM).unwrap_or(line);
            if is_separator(line) {
                pieces.push((index + 2, None));
                leading = true;
                continue;
            }
            if !leading {
                continue;
            }
            let trimmed = line.trim();
            if let Some(template) = line.strip_prefix(SOURCE_COMMENT).map(str::trim) {
                if let (Some(last), false) = (pieces.last_mut(), template.is_empty()) {
                    last.1 = Some(template.to_string());
                }
            } else if !(trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('%')) {
                leading = false;
            }
        }
        Templates { pieces }
    }

    /// The template of the document at `line` (1-based), if its piece has one.
    pub fn at(&self, line: usize) -> Option<&str> {
        let index = self.pieces.partition_point(|(start, _)| *start <= line);
        self.pieces.get(index.checked_sub(1)?)?.1.as_deref()
    }
}

/// `--source-root CHART=DIR`: the templates of chart CHART (`mychart`, or a
/// subchart's path such as `mychart/charts/sub`) are in DIR, a path in the
/// repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRoot {
    chart: String,
    dir: String,
}

impl FromStr for SourceRoot {
    type Err = String;

    fn from_str(text: &str) -> Result<SourceRoot, String> {
        let (chart, dir) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?} is not CHART=DIR (e.g. mychart=charts/mychart)"))?;
        let chart = chart.trim_matches('/');
        let dir = dir.trim_end_matches('/');
        if chart.is_empty() || dir.is_empty() {
            return Err(format!(
                "{text:?}: both the chart and the directory must be given (e.g. mychart=charts/mychart)"
            ));
        }
        Ok(SourceRoot {
            chart: chart.to_string(),
            dir: dir.to_string(),
        })
    }
}

/// Where a template is in the repository: the root of the longest chart
/// that is a whole-component prefix of its path, followed by the rest of the
/// path; `None` when no root's chart is.
pub fn repository_path(roots: &[SourceRoot], template: &str) -> Option<String> {
    roots
        .iter()
        .filter_map(|root| {
            let rest = template.strip_prefix(&root.chart)?.strip_prefix('/')?;
            Some((root.chart.len(), format!("{}/{rest}", root.dir)))
        })
        .max_by_key(|(length, _)| *length)
        .map(|(_, path)| path)
}

/// Where `key` is written as a block mapping's key in a template, when on
/// exactly one line: `key:` after indentation and list dashes, the key
/// plain or quoted. 1-based line and column (in characters).
pub fn key_line(template: &str, key: &str) -> Option<(usize, usize)> {
    let mut found = (1..)
        .zip(template.lines())
        .filter_map(|(number, line)| Some((number, key_column(line, key)?)));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

fn key_column(line: &str, key: &str) -> Option<usize> {
    let mut rest = line.trim_start_matches(' ');
    while let Some(after) = rest.strip_prefix('-').filter(|a| a.starts_with(' ')) {
        rest = after.trim_start_matches(' ');
    }
    let column = line[..line.len() - rest.len()].chars().count() + 1;
    let after_key = [("", ""), ("\"", "\""), ("'", "'")].iter().find_map(|(open, close)| {
        rest.strip_prefix(open)?
            .strip_prefix(key)?
            .strip_prefix(close)?
            .strip_prefix(':')
    })?;
    (after_key.is_empty() || after_key.starts_with([' ', '\t'])).then_some(column)
}

/// The text of templates in the repository, each read once; `None` for a
/// file that cannot be read.
#[derive(Default)]
pub struct TemplateFiles {
    read: HashMap<String, Option<String>>,
}

impl TemplateFiles {
    pub fn text(&mut self, path: &str) -> Option<&str> {
        self.read
            .entry(path.to_string())
            .or_insert_with(|| std::fs::read_to_string(Path::new(path)).ok())
            .as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_document_has_the_template_of_its_leading_comment() {
        let text = "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: Pod\n# Source: not/a-header.yaml\n---\napiVersion: v1\nkind: Pod\n---\n# a comment\n\n# Source: c/charts/sub/templates/b.yaml\nkind: Pod\n";
        let templates = Templates::of(text);
        assert_eq!(templates.at(3), Some("c/templates/a.yaml"));
        // a comment after the content is no header, and a piece has its own
        assert_eq!(templates.at(7), None);
        assert_eq!(templates.at(13), Some("c/charts/sub/templates/b.yaml"));
        // text without comments: none anywhere
        assert_eq!(Templates::of("kind: Pod\n").at(1), None);
        // a header only counts at the start of a line
        assert_eq!(Templates::of("  # Source: x.yaml\nkind: Pod\n").at(2), None);
    }

    #[test]
    fn templates_map_under_the_longest_chart_root() {
        let roots: Vec<SourceRoot> = ["mychart=charts/mychart/", "mychart/charts/sub=vendor/sub"]
            .iter()
            .map(|r| r.parse().unwrap())
            .collect();
        let map = |t: &str| repository_path(&roots, t);
        assert_eq!(
            map("mychart/templates/deployment.yaml").as_deref(),
            Some("charts/mychart/templates/deployment.yaml")
        );
        assert_eq!(
            map("mychart/charts/sub/templates/x.yaml").as_deref(),
            Some("vendor/sub/templates/x.yaml")
        );
        assert_eq!(
            map("mychart/charts/other/templates/x.yaml").as_deref(),
            Some("charts/mychart/charts/other/templates/x.yaml")
        );
        // a chart is matched as whole path components
        assert_eq!(map("mychart2/templates/x.yaml"), None);
        assert_eq!(map("other/templates/x.yaml"), None);
        assert!("mychart".parse::<SourceRoot>().is_err());
        assert!("=dir".parse::<SourceRoot>().is_err());
        assert!("chart=".parse::<SourceRoot>().is_err());
    }

    #[test]
    fn a_key_written_on_one_line_only_is_found() {
        let template = "spec:\n  containers:\n  - name: app\n    volumeMounts:\n    - name: s\n      mountPath: {{ .Values.path }}\n      \"readOnly\": false\n    env:\n    - name: A\n";
        assert_eq!(key_line(template, "mountPath"), Some((6, 7)));
        assert_eq!(key_line(template, "readOnly"), Some((7, 7)));
        assert_eq!(key_line(template, "volumeMounts"), Some((4, 5)));
        // on two lines, or nowhere, or only as part of a longer key: no line
        assert_eq!(key_line(template, "name"), None);
        assert_eq!(key_line(template, "subPath"), None);
        assert_eq!(key_line("mountPathX: 1\n", "mountPath"), None);
        assert_eq!(key_line("- - key: 1\n", "key"), Some((1, 5)));
    }
}
