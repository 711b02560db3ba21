//! A policy's rule catalogue: what each rule id means, for the reports that
//! describe rules (SARIF). The runner knows no policy's rules; a policy ships
//! its catalogue, in the module's `policy-runner.rules` custom section (as
//! JSON text, or as a zlib stream of it, which the section may hold to stay
//! small: JSON text never starts with zlib's first byte) so that the released module alone describes its rules, or as a file
//! given with `check --rules FILE`, which wins (secret-mounts-policy writes
//! docs/rules.yml into its module at build time).
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
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// One rule of a catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleEntry {
    pub id: String,
    pub name: Option<String>,
    pub short_description: String,
    pub full_description: Option<String>,
    /// Markdown.
    pub help: Option<String>,
    pub help_uri: Option<String>,
}

/// Reads a catalogue from its text; every id must be given once.
pub fn parse(text: &str) -> Result<Vec<RuleEntry>> {
    let value = crate::input::parse_single_document(text)?.unwrap_or_default();
    let rules: Vec<RuleEntry> = serde_json::from_value(value)?;
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
pub fn read(path: &str) -> Result<Vec<RuleEntry>> {
    let text = crate::input::read_text(path, "rule catalogue")?;
    parse(&text).with_context(|| format!("invalid rule catalogue {path}"))
}

/// The custom section of a module that carries its rule catalogue (JSON,
/// or JSON in a zlib stream).
pub const CATALOGUE_SECTION: &str = "policy-runner.rules";

/// The first byte of every zlib stream a 32 KiB window writes (RFC 1950
/// CMF: deflate, window 2^15), and a character no JSON text starts with.
const ZLIB_CMF: u8 = 0x78;

/// The most bytes a compressed catalogue may inflate to: a bound on what a
/// crafted section can make the runner allocate.
const MAX_INFLATED: usize = 16 << 20;

/// The catalogue carried by a module, if it has one.
pub fn embedded(module: &[u8]) -> Result<Option<Vec<RuleEntry>>> {
    let Some(data) = crate::metadata::custom_section(module, CATALOGUE_SECTION)? else {
        return Ok(None);
    };
    let inflated;
    let json = if data.first() == Some(&ZLIB_CMF) {
        inflated = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(data, MAX_INFLATED)
            .map_err(|e| anyhow::anyhow!("not a zlib stream of the catalogue: {e}"))?;
        &inflated[..]
    } else {
        data
    };
    let text = std::str::from_utf8(json).context("not UTF-8")?;
    parse(text).map(Some)
}

/// The catalogue for a check: the `--rules` file when given, else the one in
/// the policy module, else none (rules are then known by id only).
pub fn for_check(rules_file: Option<&str>, policy: &Path) -> Result<Option<Vec<RuleEntry>>> {
    if let Some(path) = rules_file {
        return read(path).map(Some);
    }
    // An unreadable module is reported when it is loaded.
    let Ok(module) = std::fs::read(policy) else {
        return Ok(None);
    };
    embedded(&module).with_context(|| format!("invalid {CATALOGUE_SECTION} section in {}", policy.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary module with one custom section.
    fn module_with(name: &str, data: &[u8]) -> Vec<u8> {
        let mut content = vec![name.len() as u8];
        content.extend_from_slice(name.as_bytes());
        content.extend_from_slice(data);
        let mut bytes = b"\0asm\x01\0\0\0".to_vec();
        bytes.push(0);
        bytes.extend_from_slice(&[(content.len() as u8 & 0x7f) | 0x80, (content.len() >> 7) as u8]);
        bytes.extend_from_slice(&content);
        bytes
    }

    #[test]
    fn the_module_catalogue_is_read_and_a_file_wins() {
        let json = br#"[{"id":"in-module","shortDescription":"from the module","help":"do this"}]"#;
        let rules = embedded(&module_with(CATALOGUE_SECTION, json)).unwrap().unwrap();
        assert_eq!(rules[0].id, "in-module");
        assert_eq!(rules[0].help.as_deref(), Some("do this"));
        assert!(embedded(&module_with("other", json)).unwrap().is_none());
        let broken = embedded(&module_with(CATALOGUE_SECTION, br#"[{"id":"x"}]"#)).unwrap_err();
        assert!(format!("{broken:#}").contains("shortDescription"), "{broken:#}");
        // the same catalogue compressed, as secret-mounts-policy's build writes it
        let zlib = miniz_oxide::deflate::compress_to_vec_zlib(json, 10);
        assert_eq!(
            embedded(&module_with(CATALOGUE_SECTION, &zlib)).unwrap().unwrap(),
            rules
        );
        let truncated = &zlib[..zlib.len() - 4];
        let broken = embedded(&module_with(CATALOGUE_SECTION, truncated)).unwrap_err();
        assert!(format!("{broken:#}").contains("not a zlib stream"), "{broken:#}");

        let dir = std::env::temp_dir().join(format!("policy-runner-catalogue-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let policy = dir.join("policy.wasm");
        std::fs::write(&policy, module_with(CATALOGUE_SECTION, json)).unwrap();
        let file = dir.join("rules.yml");
        std::fs::write(&file, "- {id: from-file, shortDescription: the file}\n").unwrap();
        assert_eq!(for_check(None, &policy).unwrap().unwrap()[0].id, "in-module");
        let chosen = for_check(file.to_str(), &policy).unwrap().unwrap();
        assert_eq!(chosen[0].id, "from-file");
        assert!(for_check(None, &dir.join("absent.wasm")).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
