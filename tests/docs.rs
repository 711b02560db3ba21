//! The documentation holds together: every relative Markdown link of the
//! README, `docs/`, CONTRIBUTING.md and runner/README.md names a file that
//! exists and, with a `#fragment`, a heading of that file (as GitHub makes its
//! anchors); and the README, the text `kwctl annotate` embeds into the module,
//! stays the short one.
// Tests may unwrap, panic and index: a failure is meant to stop them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The README's ceiling, in lines: it is what Artifact Hub and `kwctl inspect`
/// show, the rest belongs in docs/ and CONTRIBUTING.md.
const README_MAX_LINES: usize = 350;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every page whose links are checked, relative to the repository.
fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = ["README.md", "CONTRIBUTING.md", "runner/README.md"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The text outside fenced code blocks and inline code spans.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if !fenced {
            // drop `code spans`: a link inside one is not a link
            let mut in_code = false;
            for c in line.chars() {
                if c == '`' {
                    in_code = !in_code;
                } else if !in_code {
                    out.push(c);
                }
            }
        }
        out.push('\n');
    }
    out
}

/// The targets of inline links `[text](target)` (an optional title dropped).
fn link_targets(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut targets = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].split_whitespace().next().unwrap_or("").to_string();
        targets.push(target);
        rest = &after[end..];
    }
    targets
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, and every
/// character but letters, digits, `-` and `_` dropped (after code spans lose
/// their backticks).
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a page's headings (ATX `#` headings outside code blocks),
/// repeated ones numbered as GitHub numbers them.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = anchor(heading);
        let mut candidate = base.clone();
        let mut n = 0;
        while seen.contains(&candidate) {
            n += 1;
            candidate = format!("{base}-{n}");
        }
        seen.insert(candidate);
    }
    seen
}

fn read(relative: &Path) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{}: {e}", relative.display()))
}

/// Whether `target`, linked from `page`, resolves; `None` when it does.
fn broken(page: &Path, target: &str) -> Option<String> {
    if target.is_empty() {
        return Some("an empty link".to_string());
    }
    if target.contains("://") || target.starts_with("mailto:") {
        return None; // not relative: not checked here
    }
    let (file, fragment) = match target.split_once('#') {
        Some((file, fragment)) => (file, Some(fragment)),
        None => (target, None),
    };
    let linked = if file.is_empty() {
        page.to_path_buf()
    } else {
        page.parent().unwrap_or(Path::new("")).join(file)
    };
    // Lexically: `docs/../README.md` is `README.md`, and nothing may leave the repository.
    let mut resolved = PathBuf::new();
    for part in linked.components() {
        match part {
            std::path::Component::ParentDir => {
                if !resolved.pop() {
                    return Some(format!("{target}: leaves the repository"));
                }
            }
            std::path::Component::CurDir => {}
            other => resolved.push(other),
        }
    }
    let on_disk = root().join(&resolved);
    if !on_disk.exists() {
        return Some(format!("{target}: no file {}", resolved.display()));
    }
    match fragment {
        Some(fragment) if on_disk.is_file() && resolved.extension().is_some_and(|e| e == "md") => {
            let anchors = anchors(&read(&resolved));
            (!anchors.contains(fragment))
                .then(|| format!("{target}: {} has no heading #{fragment}", resolved.display()))
        }
        _ => None,
    }
}

#[test]
fn every_relative_link_resolves() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in pages() {
        for target in link_targets(&read(&page)) {
            checked += 1;
            if let Some(problem) = broken(&page, &target) {
                problems.push(format!("{}: {problem}", page.display()));
            }
        }
    }
    assert!(checked > 30, "only {checked} links found: is the link parser broken?");
    assert!(problems.is_empty(), "broken links:\n  {}", problems.join("\n  "));
}

#[test]
fn the_readme_is_short_and_links_the_rest() {
    let readme = read(Path::new("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines (at most {README_MAX_LINES}): it is what the module carries; move detail to docs/"
    );
    let targets: BTreeSet<String> = link_targets(&readme)
        .into_iter()
        .map(|t| t.split('#').next().unwrap().to_string())
        .collect();
    for page in pages().iter().skip(1) {
        let page = page.to_str().unwrap();
        assert!(targets.contains(page), "README.md does not link {page}");
    }
}

/// The checker itself finds what it should.
#[test]
fn the_link_checker_tells_broken_links() {
    let text = "[a](docs/rules.md) [b](docs/nope.md) `[c](nowhere.md)` [d](#settings) [e](#nowhere)\n\
                ```\n[f](fenced.md)\n```\n[g](https://example.org/x) [h](docs/rules.md#nowhere)";
    let targets = link_targets(text);
    assert_eq!(
        targets,
        [
            "docs/rules.md",
            "docs/nope.md",
            "#settings",
            "#nowhere",
            "https://example.org/x",
            "docs/rules.md#nowhere"
        ]
    );
    let page = Path::new("README.md");
    let verdicts: Vec<bool> = targets.iter().map(|t| broken(page, t).is_some()).collect();
    assert_eq!(verdicts, [false, true, false, true, false, true]);
    assert!(broken(Path::new("docs/rules.md"), "../../outside.md").is_some());
    assert_eq!(
        anchor("`secretMounts`: 1:1 from the chart's `values.yaml`"),
        "secretmounts-11-from-the-charts-valuesyaml"
    );
    assert_eq!(
        anchor("Host capabilities, and namespaced `AdmissionPolicy`"),
        "host-capabilities-and-namespaced-admissionpolicy"
    );
}
