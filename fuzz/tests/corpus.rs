//! Replays every seed (`fuzz/corpus/<target>/`) and every crash kept as a regression
//! (`fuzz/regressions/<target>/`) through its target on stable, so `cargo test` checks what the fuzzers
//! found without nightly. `scripts/fuzz.sh` runs this when nightly is missing.

use std::path::{Path, PathBuf};

use mcp_auth_fuzz::TARGETS;

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable directory").path())
        .filter(|path| {
            path.is_file() && !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(kind);
    let mut count = 0;
    for (name, target) in TARGETS {
        for file in files(&root.join(name)) {
            let data = std::fs::read(&file).expect("a readable file");
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} panicked on {}", file.display());
            count += 1;
        }
    }
    count
}

#[test]
fn every_target_has_a_seed_corpus_and_passes_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, _) in TARGETS {
        assert!(!files(&root.join(name)).is_empty(), "no seeds for {name}");
    }
    assert!(replay("corpus") >= TARGETS.len());
}

#[test]
fn every_regression_passes() {
    replay("regressions");
}

#[test]
fn every_corpus_directory_names_a_target() {
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(kind)) else {
            continue;
        };
        for entry in entries {
            let name = entry.expect("a readable directory").file_name();
            let name = name.to_string_lossy();
            assert!(TARGETS.iter().any(|(target, _)| *target == name), "{kind}/{name} names no target");
        }
    }
}
