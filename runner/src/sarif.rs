//! The `check` report as SARIF 2.1.0, the format code-scanning tools read
//! (GitHub's upload-sarif among them): one run, one result per finding and
//! per object that could not be read or evaluated, each at its file, line
//! and column. Skipped objects are not results. A finding of `helm template`
//! output is placed in its chart template when `--source-root` maps it to a
//! file that exists ([`crate::helm_source`]), the rendered place related.
//!
//! The model is the small subset written here, by hand (the tests read it
//! back through the same types, strictly): the maintained
//! data-model crate (serde-sarif) generates the whole schema at build time
//! (schemafy, regex, syn 1, strum, typed-builder), about 50 s of build for
//! some fifteen fields.
//!
//! Rules: one `reportingDescriptor` per rule of the catalogue (`--rules`, or the module's),
//! then per rule seen in a finding and not in it (its id alone), then the
//! runner's own rules that the results use (`policy-runner/...`).

use serde::Serialize;

use crate::catalogue::RuleEntry;
use crate::findings::placed_key;
use crate::helm_source::{key_line, repository_path, SourceRoot, TemplateFiles};
use crate::results::{issues, own_rule, Finding, Issue, Level, ObjectReport};

pub const SCHEMA: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
pub const VERSION: &str = "2.1.0";

/// The uri of standard input's results: a relative reference, which GitHub
/// accepts (it names no file of the repository, so no source is shown).
pub const STDIN_URI: &str = "stdin";

/// What the runner's own rules are about: (id, short, full description).
const OWN_RULES: [(&str, &str, &str); 4] = [
    (
        own_rule::UNREADABLE,
        "a manifest file or document that could not be read",
        "The file could not be read, or the document is not YAML or JSON that makes a Kubernetes object. Nothing in it was evaluated; the other documents were.",
    ),
    (
        own_rule::EVALUATION_FAILED,
        "the policy failed on an object",
        "The policy trapped, ran past its deadline or gave an answer that is not an admission response: the object was not judged.",
    ),
    (
        own_rule::MUTATION,
        "the policy changes the object on admission",
        "The object is admitted with this JSON patch operation applied: the cluster runs something other than the manifest says. Write the change into the manifest to keep them equal.",
    ),
    (
        own_rule::UNNAMED,
        "a finding for which the policy named no rule",
        "The policy's message or warning gave no `[rule-id]`: see the policy's documentation.",
    ),
];

#[derive(Serialize)]
#[cfg_attr(test, derive(serde::Deserialize), serde(deny_unknown_fields))]
pub struct Log {
    #[serde(rename = "$schema")]
    schema: String,
    version: String,
    runs: Vec<Run>,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(serde::Deserialize), serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: Tool,
    /// Columns count Unicode code points (characters), as findings do.
    column_kind: String,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(serde::Deserialize), serde(deny_unknown_fields))]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(serde::Deserialize), serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: String,
    version: String,
    rules: Vec<Descriptor>,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(serde::Deserialize), serde(deny_unknown_fields))]
struct Text {
    text: String,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(serde::Deserialize), serde(deny_unknown_fields))]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(serde::Deserialize), serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    short_description: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_description: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<Help>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help_uri: Option<String>,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(serde::Deserialize), serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: String,
    rule_index: usize,
    level: String,
    message: Text,
    locations: Vec<SarifLocation>,
    /// The place in the rendered manifest, when the result is placed in
    /// its chart template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    related_locations: Vec<SarifLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<Properties>,
}

/// What SARIF has no field for.
#[derive(Serialize)]
#[cfg_attr(test, derive(serde::Deserialize), serde(deny_unknown_fields))]
struct Properties {
    /// The chart template of the object's document (its `# Source:`
    /// comment), whether or not the result is placed in it.
    source: String,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(serde::Deserialize), serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
struct SarifLocation {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<usize>,
    physical_location: PhysicalLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Text>,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(serde::Deserialize), serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(serde::Deserialize), serde(deny_unknown_fields))]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(serde::Deserialize), serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_column: Option<usize>,
}

/// The rules of the run, in order, found by id.
struct Rules {
    list: Vec<Descriptor>,
}

impl Rules {
    fn new(catalogue: Option<&[RuleEntry]>) -> Rules {
        let list = catalogue
            .unwrap_or_default()
            .iter()
            .map(|info| Descriptor {
                id: info.id.clone(),
                name: info.name.clone(),
                short_description: Text {
                    text: info.short_description.clone(),
                },
                full_description: info.full_description.clone().map(|text| Text { text }),
                help: info.help.clone().map(|markdown| Help {
                    text: markdown.clone(),
                    markdown,
                }),
                help_uri: info.help_uri.clone(),
            })
            .collect();
        Rules { list }
    }

    /// The index of the rule `id`, added when not yet listed: a policy's
    /// with its id alone (the catalogue lacks it, or there is none), one of
    /// the runner's [`OWN_RULES`] with its descriptions.
    fn index(&mut self, id: &str, own: bool, catalogue_given: bool) -> usize {
        if let Some(index) = self.list.iter().position(|d| d.id == id) {
            return index;
        }
        let (short, full) = match OWN_RULES.iter().find(|(rule, ..)| own && *rule == id) {
            Some((_, short, full)) => (short.to_string(), Some(Text { text: full.to_string() })),
            None if catalogue_given => (format!("{id}: not in the rule catalogue"), None),
            None => (
                format!("{id}: no rule catalogue was given (--rules FILE) nor is one in the module, so only the id is known"),
                None,
            ),
        };
        self.list.push(Descriptor {
            id: id.to_string(),
            name: None,
            short_description: Text { text: short },
            full_description: full,
            help: None,
            help_uri: None,
        });
        self.list.len() - 1
    }
}

/// A file as given, as a URI reference: relative paths stay relative
/// (`./` dropped, `\` as `/`), absolute ones become `file://` URIs, and
/// what a URI cannot hold is percent-encoded; `<stdin>` is [`STDIN_URI`].
pub fn artifact_uri(file: &str) -> String {
    if file == "<stdin>" {
        return STDIN_URI.to_string();
    }
    let path = crate::codequality::repository_path(file);
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => encoded.push(byte as char),
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b'@' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    if encoded.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded
    }
}

fn level(level: Level) -> &'static str {
    match level {
        Level::Reject => "error",
        Level::Warn => "warning",
        Level::Mutation => "note",
    }
}

impl SarifLocation {
    /// The place at `start_line` (and `start_column`) of `file`.
    fn at(file: &str, start_line: usize, start_column: Option<usize>) -> SarifLocation {
        SarifLocation {
            id: None,
            message: None,
            physical_location: PhysicalLocation {
                artifact_location: ArtifactLocation {
                    uri: artifact_uri(file),
                },
                region: Region {
                    start_line,
                    start_column,
                },
            },
        }
    }
}

/// Where the templates of the rendered documents are: the roots given, and
/// the files read.
struct TemplatePlaces<'r> {
    roots: &'r [SourceRoot],
    files: TemplateFiles,
}

impl TemplatePlaces<'_> {
    /// A finding in the repository's template, when the document names a
    /// template that a root maps to a file that exists: at the line where
    /// the field's key is written, when that key is written on one line of
    /// the template alone; else at the template's first line (GitHub
    /// requires a line), no column. `None`: the rendered file is the place.
    fn locate(&mut self, r: &ObjectReport, f: &Finding) -> Option<SarifLocation> {
        let path = repository_path(self.roots, r.location.template.as_deref()?)?;
        let text = self.files.text(&path)?;
        let key = r.object.as_ref().and_then(|o| placed_key(&o.object, f));
        let (start_line, start_column) = match key.and_then(|key| key_line(text, &key)) {
            Some((line, column)) => (line, Some(column)),
            None => (1, None),
        };
        Some(SarifLocation::at(&path, start_line, start_column))
    }
}

/// The place of a finding: in its chart template when it can be found
/// there, with the rendered place as related location; else the rendered place.
fn finding_locations(issue: &Issue, templates: &mut TemplatePlaces) -> (Vec<SarifLocation>, Vec<SarifLocation>) {
    // The place in the rendered manifest: the finding's, else the object's.
    let rendered = SarifLocation::at(&issue.report.location.file, issue.line, issue.column);
    match issue.finding.and_then(|f| templates.locate(issue.report, f)) {
        Some(template) => {
            let related = SarifLocation {
                id: Some(1),
                message: Some(Text {
                    text: "where `helm template` rendered it".to_string(),
                }),
                ..rendered
            };
            (vec![template], vec![related])
        }
        None => (vec![rendered], Vec::new()),
    }
}

/// The SARIF log of a `check` run.
pub fn log(reports: &[ObjectReport], catalogue: Option<&[RuleEntry]>, roots: &[SourceRoot]) -> Log {
    let mut rules = Rules::new(catalogue);
    let mut templates = TemplatePlaces {
        roots,
        files: TemplateFiles::default(),
    };
    let results = issues(reports)
        .into_iter()
        .map(|issue| {
            let (locations, related_locations) = finding_locations(&issue, &mut templates);
            SarifResult {
                rule_index: rules.index(issue.rule_id, issue.own, catalogue.is_some()),
                rule_id: issue.rule_id.to_string(),
                level: issue.finding.map_or("error", |f| level(f.level)).to_string(),
                properties: issue
                    .report
                    .location
                    .template
                    .clone()
                    .map(|source| Properties { source }),
                message: Text { text: issue.message },
                locations,
                related_locations,
            }
        })
        .collect();
    Log {
        schema: SCHEMA.to_string(),
        version: VERSION.to_string(),
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "policy-runner".to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    rules: rules.list,
                },
            },
            column_kind: "unicodeCodePoints".to_string(),
            results,
        }],
    }
}

/// The SARIF document, pretty-printed.
pub fn render(reports: &[ObjectReport], catalogue: Option<&[RuleEntry]>, roots: &[SourceRoot]) -> String {
    let mut text = serde_json::to_string_pretty(&log(reports, catalogue, roots)).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    //! The output read back strictly, through the model itself (which derives
    //! `Deserialize` with `deny_unknown_fields` in tests), and the SARIF 2.1.0 requirements
    //! checked on it (§3.13 sarifLog, §3.14 run, §3.19 toolComponent,
    //! §3.27 result, §3.49 reportingDescriptor, §3.30 region).
    use super::*;
    use crate::request::object;
    use crate::results::{Finding, Location, Verdict};

    /// Reads a SARIF text strictly and checks what SARIF 2.1.0 requires of it.
    fn read_strictly(text: &str) -> Log {
        let log: Log = serde_json::from_str(text).expect("the subset written, and nothing else");
        assert_eq!(log.version, "2.1.0");
        assert_eq!(log.schema, SCHEMA);
        assert!(!log.runs.is_empty());
        for run in &log.runs {
            assert!(!run.tool.driver.name.is_empty(), "driver.name is required");
            assert!(
                ["utf16CodeUnits", "unicodeCodePoints"].contains(&run.column_kind.as_str()),
                "{}",
                run.column_kind
            );
            let rules = &run.tool.driver.rules;
            let mut ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), rules.len(), "rule ids are unique");
            for rule in rules {
                assert!(!rule.id.is_empty());
                assert!(!rule.short_description.text.is_empty());
                if let Some(help) = &rule.help {
                    assert!(!help.text.is_empty() && !help.markdown.is_empty());
                }
                if let Some(uri) = &rule.help_uri {
                    assert!(uri.starts_with("https://"), "{uri}");
                }
                let _ = (&rule.name, &rule.full_description);
            }
            for result in &run.results {
                assert!(!result.message.text.is_empty(), "message.text is required");
                assert!(["error", "warning", "note", "none"].contains(&result.level.as_str()));
                // ruleIndex names the rule of ruleId (§3.27.6)
                let rule = rules.get(result.rule_index).expect("ruleIndex within driver.rules");
                assert_eq!(rule.id, result.rule_id);
                for location in &result.locations {
                    let physical = &location.physical_location;
                    assert!(!physical.artifact_location.uri.is_empty());
                    assert!(physical.region.start_line >= 1);
                    assert!(physical.region.start_column.is_none_or(|c| c >= 1));
                }
            }
        }
        log
    }

    fn at(file: &str, line: usize) -> Location {
        Location {
            file: file.into(),
            document: Some(1),
            item: None,
            line: Some(line),
            template: None,
        }
    }

    fn finding(rule: Option<&str>, level: Level, path: Option<&str>, message: &str, line: usize) -> Finding {
        Finding {
            rule_id: rule.map(str::to_string),
            level,
            path: path.map(str::to_string),
            message: message.into(),
            line: Some(line),
            column: Some(3),
            written: Some(message.into()),
            operation: None,
        }
    }

    fn reports() -> Vec<ObjectReport> {
        let mut rejected = ObjectReport::new(
            at("./m.yaml", 1),
            Some(object("v1", "Pod", Some("ns"), "a")),
            Verdict::Rejected,
        );
        rejected.findings = vec![
            finding(Some("known"), Level::Reject, Some("spec.x"), "bad", 7),
            finding(Some("stranger"), Level::Reject, None, "odd", 1),
            finding(None, Level::Reject, None, "no id", 1),
        ];
        let mut mutated = ObjectReport::new(
            at("dir/with space.yaml", 10),
            Some(object("v1", "Pod", None, "b")),
            Verdict::Mutated,
        );
        mutated.findings = vec![
            finding(None, Level::Mutation, Some("/spec/v"), "add /spec/v 1", 12),
            finding(Some("known"), Level::Warn, Some("spec.y"), "careful", 13),
        ];
        let skipped = ObjectReport::new(
            at("m.yaml", 20),
            Some(object("v1", "ConfigMap", None, "c")),
            Verdict::Skipped,
        );
        let mut unreadable = ObjectReport::new(at("<stdin>", 30), None, Verdict::Error);
        unreadable.message = Some("invalid YAML: x".into());
        let mut gone = ObjectReport::new(
            Location {
                file: "/abs/gone.yaml".into(),
                ..Location::default()
            },
            None,
            Verdict::Error,
        );
        gone.message = Some("cannot read manifest".into());
        vec![rejected, mutated, skipped, unreadable, gone]
    }

    #[test]
    fn every_finding_and_error_is_a_result_at_its_place() {
        let catalogue = crate::catalogue::parse(
            "- id: known\n  name: Known\n  shortDescription: a known rule\n  fullDescription: all about it\n  help: \"**fix** it\"\n  helpUri: https://example.org/known\n- id: unused\n  shortDescription: never seen\n",
        )
        .unwrap();
        let text = render(&reports(), Some(&catalogue), &[]);
        let log = read_strictly(&text);
        let run = &log.runs[0];
        assert_eq!(run.column_kind, "unicodeCodePoints");
        assert_eq!(run.tool.driver.name, "policy-runner");
        assert_eq!(run.tool.driver.version, env!("CARGO_PKG_VERSION"));
        let ids: Vec<&str> = run.tool.driver.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "known",
                "unused",
                "stranger",
                "policy-runner/unnamed",
                "policy-runner/mutation",
                "policy-runner/unreadable"
            ]
        );
        let known = &run.tool.driver.rules[0];
        assert_eq!(known.help.as_ref().unwrap().markdown, "**fix** it");
        assert_eq!(known.help_uri.as_deref(), Some("https://example.org/known"));
        assert!(run.tool.driver.rules[2]
            .short_description
            .text
            .contains("not in the rule catalogue"));
        let summary: Vec<(String, &str, &str, usize, Option<usize>)> = run
            .results
            .iter()
            .map(|r| {
                let p = &r.locations[0].physical_location;
                (
                    r.rule_id.clone(),
                    r.level.as_str(),
                    p.artifact_location.uri.as_str(),
                    p.region.start_line,
                    p.region.start_column,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("known".into(), "error", "m.yaml", 7, Some(3)),
                ("stranger".into(), "error", "m.yaml", 1, Some(3)),
                ("policy-runner/unnamed".into(), "error", "m.yaml", 1, Some(3)),
                (
                    "policy-runner/mutation".into(),
                    "note",
                    "dir/with%20space.yaml",
                    12,
                    Some(3)
                ),
                ("known".into(), "warning", "dir/with%20space.yaml", 13, Some(3)),
                ("policy-runner/unreadable".into(), "error", "stdin", 30, None),
                (
                    "policy-runner/unreadable".into(),
                    "error",
                    "file:///abs/gone.yaml",
                    1,
                    None
                ),
            ]
        );
        assert_eq!(run.results[0].message.text, "Pod ns/a: spec.x: bad");
        assert_eq!(run.results[3].message.text, "Pod b: add /spec/v 1");
    }

    #[test]
    fn without_a_catalogue_a_rule_is_its_id() {
        let log = read_strictly(&render(&reports(), None, &[]));
        let rule = &log.runs[0].tool.driver.rules[0];
        assert_eq!(rule.id, "known");
        assert!(
            rule.short_description.text.contains("no rule catalogue was given"),
            "{}",
            rule.short_description.text
        );
        assert!(rule.help.is_none() && rule.full_description.is_none());
    }

    #[test]
    fn the_strict_reader_refuses_what_it_does_not_know() {
        let text = render(&reports(), None, &[]).replacen("\"columnKind\"", "\"invocations\": [], \"columnKind\"", 1);
        assert!(serde_json::from_str::<Log>(&text).is_err());
    }

    #[test]
    fn uris_are_references_github_accepts() {
        assert_eq!(artifact_uri("./charts/out.yaml"), "charts/out.yaml");
        assert_eq!(artifact_uri("a b/ü#1.yaml"), "a%20b/%C3%BC%231.yaml");
        assert_eq!(artifact_uri("C:\\x\\y.yaml"), "C%3A/x/y.yaml");
        assert_eq!(artifact_uri("/tmp/m.yaml"), "file:///tmp/m.yaml");
        assert_eq!(artifact_uri("<stdin>"), "stdin");
    }
}
