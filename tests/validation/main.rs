//! Validation at apply time, through its three doors: the CRD schema and the admission
//! webhook against a real control plane (`kubectl apply`, `--dry-run=server`, warnings,
//! and the `cxf-operator run` binary serving it),
//! the webhook's certificates (created, shared, rotated), and `cxf-operator validate`.
//!
//! The manifests are in `testdata/`: `valid/`, `invalid/` and `warnings/`. Each
//! invalid or warning manifest states what must be said about it in its first lines:
//! `# both: TEXT` (kubectl and `validate` both print TEXT), `# kubectl: TEXT`,
//! `# validate: TEXT` (where the API server's schema words it differently), or
//! `# warning: TEXT`.

#[path = "../support/mod.rs"]
mod support;

mod certificates;
mod cli;
mod run;
mod trust;
mod webhook;

use std::path::{Path, PathBuf};

/// What a test manifest says must be printed about it.
#[derive(Debug, Default)]
struct Expectations {
    kubectl: Vec<String>,
    validate: Vec<String>,
    warnings: Vec<String>,
}

fn testdata(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/validation/testdata")
        .join(dir)
}

/// The manifests of `testdata/<dir>`, sorted, with their expectations.
fn manifests(dir: &str) -> Vec<(PathBuf, Expectations)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata(dir))
        .unwrap_or_else(|e| panic!("reading testdata/{dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "testdata/{dir} is empty");
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).unwrap();
            let mut expected = Expectations::default();
            for line in text.lines().take_while(|l| l.starts_with('#')) {
                let Some((key, value)) = line.trim_start_matches("# ").split_once(": ") else {
                    continue;
                };
                match key {
                    "both" => {
                        expected.kubectl.push(value.to_owned());
                        expected.validate.push(value.to_owned());
                    }
                    "kubectl" => expected.kubectl.push(value.to_owned()),
                    "validate" => expected.validate.push(value.to_owned()),
                    "warning" => expected.warnings.push(value.to_owned()),
                    _ => {}
                }
            }
            (file, expected)
        })
        .collect()
}
