//! A policy's rule catalogue (`check --rules FILE`): what each rule id means,
//! for the reports that describe rules (SARIF). The runner knows no policy's
//! rules; a policy ships its catalogue (secret-mounts-policy: docs/rules.yml).
//!
//! The file is a YAML (or JSON) list, one entry a rule:
//!
//! ```yaml
//! - id: env-secret-ref                 # the id in `[id]` and the audit annotations
//!   name: EnvSecretRef                 # optional: a name for people
//!   shortDescription: an environment variable read from a Secret key
//!   fullDescription: ...               # optional
//!   help: ...                          # optional, Markdown: what to do
//!   helpUri: https://...               # optional
//! ```

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// One rule of a catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleInfo {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub short_description: String,
    #[serde(default)]
    pub full_description: Option<String>,
    /// Markdown.
    #[serde(default)]
    pub help: Option<String>,
    #[serde(default)]
    pub help_uri: Option<String>,
}

/// Reads a catalogue from its text; every id must be given once.
pub fn parse(text: &str) -> Result<Vec<RuleInfo>> {
    let value = crate::input::parse_single_document(text)?.unwrap_or_default();
    let rules: Vec<RuleInfo> = serde_json::from_value(value)?;
    let mut seen = BTreeSet::new();
    for rule in &rules {
        if rule.id.trim().is_empty() {
            bail!("a rule has an empty id");
        }
        if !seen.insert(rule.id.as_str()) {
            bail!("rule {:?} is listed twice", rule.id);
        }
    }
    Ok(rules)
}

/// Reads the catalogue file given to `--rules`.
pub fn read(path: &str) -> Result<Vec<RuleInfo>> {
    let text = crate::input::read_text(path, "rule catalogue")?;
    parse(&text).with_context(|| format!("invalid rule catalogue {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogues_are_read_strictly() {
        let rules = parse(
            "- id: a\n  shortDescription: first\n  help: \"**do** this\"\n  helpUri: https://example.org/a\n- id: b\n  name: B\n  shortDescription: second\n  fullDescription: more\n",
        )
        .unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].help.as_deref(), Some("**do** this"));
        assert_eq!(rules[1].name.as_deref(), Some("B"));
        assert_eq!(rules[1].full_description.as_deref(), Some("more"));
        // unknown keys, a missing description, a repeated id: refused
        assert!(parse("- id: a\n  shortDescription: x\n  severity: high\n").is_err());
        assert!(parse("- id: a\n").is_err());
        let twice = parse("- {id: a, shortDescription: x}\n- {id: a, shortDescription: z}\n").unwrap_err();
        assert!(twice.to_string().contains("listed twice"), "{twice}");
        assert!(parse("[]").unwrap().is_empty());
    }
}
