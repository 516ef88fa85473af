//! Replays the fuzzers' corpora and every input that once failed them, so the invariants
//! in `render_supervisor::fuzzing` hold in a plain `cargo test` without a fuzzing build.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let dir = fuzz.join(dir).join(target);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Runs every input, then names all that failed (each one's panic message is above).
fn replay(target: &str, check: fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no inputs for {target}");
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).unwrap();
            std::panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{target} fails on:\n{}",
        failed.join("\n")
    );
}

#[test]
fn job_corpus_and_regressions_hold() {
    replay("job", render_supervisor::fuzzing::job);
}

#[test]
fn policy_corpus_and_regressions_hold() {
    replay("policy", render_supervisor::fuzzing::policy);
}
