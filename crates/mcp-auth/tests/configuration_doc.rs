//! `docs/configuration.md` is generated from the catalog (`mcp_auth::config::catalog::VARIABLES`) and must
//! match it; and every `MCP_AUTH_*` setting the workspace's libraries read is in the catalog, so neither
//! the document nor the table can drift from the code.
//!
//! After changing the catalog, `just config-docs` (this test with `UPDATE_DOCS=1`) rewrites the document.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mcp_auth::config::catalog;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn docs_configuration_md_is_generated_from_the_catalog() {
    let path = workspace_root().join("docs/configuration.md");
    let expected = mcp_auth::config::reference();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).expect("write docs/configuration.md");
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/configuration.md differs from the catalog in crates/mcp-auth/src/config/catalog.rs: run \
         `just config-docs` to regenerate it (first differing line: {:?})",
        actual.lines().zip(expected.lines()).find(|(a, b)| a != b).map_or_else(
            || format!("line counts {} and {}", actual.lines().count(), expected.lines().count()),
            |(a, b)| format!("{a:?} vs {b:?}")
        )
    );
}

/// The libraries' sources (`crates/*/src`) without their `#[cfg(test)]` modules (which, by the house
/// style, end each file), with their paths; the catalog's own files left out.
fn library_sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for crate_dir in std::fs::read_dir(workspace_root().join("crates")).expect("crates/") {
        collect_rust_files(&crate_dir.expect("entry").path().join("src"), &mut files);
    }
    files
        .into_iter()
        .filter(|file| !file.ends_with("config/catalog.rs") && !file.ends_with("config/reference.rs"))
        .map(|file| {
            let text = std::fs::read_to_string(&file).expect("readable source");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default().to_owned();
            (file.strip_prefix(workspace_root()).unwrap_or(&file).display().to_string(), code)
        })
        .collect()
}

/// The names the libraries read: `MCP_AUTH_NAME` literals and `settings.<accessor>("NAME"...)` calls
/// (`parse::<T>("NAME"` included).
fn names_read_by_the_libraries() -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (shown, code) in library_sources() {
        // Doc comments show examples (a misspelt name for the did-you-mean, `MCP_AUTH_<NAME>`): not reads.
        let code: String = code
            .lines()
            .filter(|line| !line.trim_start().starts_with("///") && !line.trim_start().starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        let code = code.as_str();
        for (at, _) in code.match_indices("MCP_AUTH_") {
            let name: String = code[at + 9..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.is_empty() && !name.ends_with('_') {
                found.insert((name, shown.clone()));
            }
        }
        for (at, _) in code.match_indices("settings.parse::<") {
            let rest = &code[at..];
            if let Some(open) = rest.find(">(\"") {
                let name: String = rest[open + 3..].chars().take_while(|c| *c != '"').collect();
                found.insert((name, shown.clone()));
            }
        }
        for accessor in [
            "string(\"",
            "require_string(\"",
            "secret(\"",
            "require_secret(\"",
            "parse(\"",
            "url(\"",
            "require_url(\"",
            "scopes(\"",
            "bool(\"",
            "seconds(\"",
        ] {
            for (at, _) in code.match_indices(&format!("settings.{accessor}")) {
                let start = at + "settings.".len() + accessor.len();
                let name: String = code[start..].chars().take_while(|c| *c != '"').collect();
                found.insert((name, shown.clone()));
            }
        }
    }
    found
}

fn collect_rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn every_setting_the_libraries_read_is_in_the_catalog() {
    let found = names_read_by_the_libraries();
    assert!(found.iter().any(|(name, _)| name == "JWT_ISSUER"), "the scan finds the settings: {found:?}");
    let missing: Vec<String> = found
        .iter()
        .filter(|(name, _)| catalog::variable(name).is_none())
        .map(|(name, file)| format!("MCP_AUTH_{name} ({file})"))
        .collect();
    assert!(
        missing.is_empty(),
        "read by the code but not in catalog.rs (add them, then `just config-docs`): {missing:#?}"
    );
}

#[test]
fn every_catalog_entry_is_read_somewhere() {
    let sources = library_sources();
    let unread: Vec<&str> = catalog::VARIABLES
        .iter()
        .map(|variable| variable.name)
        .filter(|name| {
            !sources.iter().any(|(_, code)| {
                code.contains(&format!("MCP_AUTH_{name}")) || code.contains(&format!("\"{name}\""))
            })
        })
        .collect();
    assert!(
        unread.is_empty(),
        "in catalog.rs but read by no library (remove them, or read them): {unread:?}"
    );
}

#[test]
fn the_catalog_names_are_unique_and_well_formed() {
    let mut seen = BTreeSet::new();
    for variable in catalog::VARIABLES {
        assert!(seen.insert(variable.name), "{} is listed twice", variable.name);
        assert!(
            variable.name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
            "{}",
            variable.name
        );
        assert!(!variable.example.is_empty() && !variable.description.is_empty(), "{}", variable.name);
    }
}

#[test]
fn the_documented_toml_example_loads_and_passes_the_checks() {
    let doc = mcp_auth::config::reference();
    let start = doc.find("```toml\n").expect("a TOML example") + "```toml\n".len();
    let example = &doc[start..start + doc[start..].find("```").expect("the block ends")];
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("mcp-auth.toml"), example).expect("write");
    let settings = mcp_auth::settings::Settings::from_env_in(dir.path(), Vec::<(String, String)>::new())
        .expect("the example loads");
    assert_eq!(settings.string("PROVIDER").as_deref(), Some("jwt"));
    assert_eq!(settings.string("JWT_ISSUER").as_deref(), Some("https://login.example.com/realms/main"));
    assert_eq!(settings.string("JWT_ALGORITHMS").as_deref(), Some("RS256,ES256"));
    assert_eq!(settings.string("REDIS_URL").as_deref(), Some("redis://redis.internal:6379"));
    for (name, _) in settings.names() {
        assert!(catalog::variable(name).is_some_and(|v| v.in_file), "{name} is a known file key");
    }
}
