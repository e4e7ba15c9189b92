//! `cxf-operator validate`: the webhook's checks and the CRD schema's rules, offline,
//! over manifests from files, directories or stdin (for CI, pre-commit hooks and
//! Argo CD config management plugins).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args as ClapArgs, ValueEnum};
use cxf_operator::validation::Severity;
use cxf_operator::validation::batch::{Document, DocumentReport, check_all};
use cxf_operator::validation::document::yaml_documents;

/// Validate cxf.dev manifests (FrameworkConnection, ListenerRegistration,
/// GatekeepingRule) with the admission webhook's checks and the CRD schema's rules.
/// Other kinds are ignored. Exit status: 0 valid (warnings allowed), 1 invalid,
/// 2 unreadable input.
#[derive(ClapArgs, Debug)]
#[command(
    after_help = "Examples:\n  cxf-operator validate -f deploy/\n  helm template charts/x | cxf-operator validate -f -\n  kustomize build overlays/prod | cxf-operator validate -f - --output json\n\nSee docs/validation.md."
)]
pub struct Args {
    /// A file, a directory (searched recursively for .yaml, .yml and .json), or `-` for
    /// stdin. Repeatable; multi-document YAML and `kind: List` are read.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "PATH",
        required_unless_present = "files"
    )]
    paths: Vec<PathBuf>,
    /// More paths, as `-f` (so that pre-commit can pass the changed files).
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// How findings are printed.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    /// `FILE:DOC Kind/name field: message`, with criteria errors underlined.
    Text,
    /// One JSON object with every finding.
    Json,
}

/// Reading the input failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InputError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("reading {path}: larger than {MAX_INPUT_BYTES} bytes; split it")]
    TooLarge { path: String },
    #[error("parsing {path}, {source}")]
    Parse {
        path: String,
        source: cxf_operator::validation::document::YamlError,
    },
}

/// The largest input file (or stdin) read.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads at most [`MAX_INPUT_BYTES`] of `reader` as text; `None` if there is more.
pub fn read_bounded(reader: impl std::io::Read) -> std::io::Result<Option<String>> {
    let mut text = String::new();
    reader.take(MAX_INPUT_BYTES + 1).read_to_string(&mut text)?;
    Ok((text.len() as u64 <= MAX_INPUT_BYTES).then_some(text))
}

impl Args {
    /// Runs the command.
    pub fn run(self) -> ExitCode {
        let mut documents = Vec::new();
        let mut unreadable = Vec::new();
        for path in self.paths.iter().chain(&self.files) {
            for file in files(path, &mut unreadable) {
                match read_documents(&file) {
                    Ok(mut docs) => documents.append(&mut docs),
                    Err(e) => unreadable.push(e),
                }
            }
        }
        let reports = check_all(&documents);
        let errors = count(&reports, Severity::Error);
        let warnings = count(&reports, Severity::Warning);
        let printed = match self.output {
            Output::Text => print_text(&reports, &unreadable),
            Output::Json => print_json(&reports, &unreadable),
        };
        if let Err(e) = printed {
            eprintln!("error: writing the report: {e}");
            return ExitCode::from(2);
        }
        if let Output::Text = self.output {
            eprintln!(
                "{} resource(s) checked: {errors} error(s), {warnings} warning(s)",
                reports.len()
            );
        }
        if !unreadable.is_empty() {
            ExitCode::from(2)
        } else if errors > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    }
}

fn count(reports: &[DocumentReport], severity: Severity) -> usize {
    reports
        .iter()
        .flat_map(|r| &r.findings)
        .filter(|f| f.severity == severity)
        .count()
}

/// The files to read for `path`: itself, or the manifests under a directory (sorted).
pub(crate) fn files(path: &Path, unreadable: &mut Vec<InputError>) -> Vec<PathBuf> {
    if path.as_os_str() == "-" || !path.is_dir() {
        return vec![path.to_owned()];
    }
    let mut found = Vec::new();
    let mut pending = vec![path.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(source) => {
                unreadable.push(InputError::Read {
                    path: dir.display().to_string(),
                    source,
                });
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Every document of `file` (`-`: stdin); a `kind: List` counts as its items.
pub(crate) fn read_documents(file: &Path) -> Result<Vec<Document>, InputError> {
    let name = if file.as_os_str() == "-" {
        "-".to_owned()
    } else {
        file.display().to_string()
    };
    let read_error = |source| InputError::Read {
        path: name.clone(),
        source,
    };
    let text = if file.as_os_str() == "-" {
        read_bounded(std::io::stdin().lock())
    } else {
        std::fs::File::open(file).and_then(read_bounded)
    }
    .map_err(read_error)?
    .ok_or_else(|| InputError::TooLarge { path: name.clone() })?;
    let values = yaml_documents(&text).map_err(|source| InputError::Parse {
        path: name.clone(),
        source,
    })?;
    let mut documents = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let index = i + 1;
        let items = match value.get("kind").and_then(|k| k.as_str()) {
            Some(kind)
                if kind.ends_with("List") && value.get("items").is_some_and(|i| i.is_array()) =>
            {
                value["items"].as_array().cloned().unwrap_or_default()
            }
            _ if value.is_null() => Vec::new(),
            _ => vec![value],
        };
        documents.extend(items.into_iter().map(|value| Document {
            file: name.clone(),
            index,
            value,
        }));
    }
    Ok(documents)
}

fn print_text(reports: &[DocumentReport], unreadable: &[InputError]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for error in unreadable {
        writeln!(out, "error: {error}")?;
    }
    for report in reports {
        for finding in &report.findings {
            let severity = match finding.severity {
                Severity::Error => "",
                Severity::Warning => "warning: ",
            };
            writeln!(
                out,
                "{}:{} {}/{} {}: {severity}{}",
                report.file, report.index, report.kind, report.name, finding.field, finding.message
            )?;
            if let Some(criteria) = &finding.criteria {
                for line in criteria.diagnostic.render(&criteria.source).lines() {
                    writeln!(out, "    {line}")?;
                }
            }
        }
    }
    out.flush()
}

fn print_json(reports: &[DocumentReport], unreadable: &[InputError]) -> std::io::Result<()> {
    let findings: Vec<serde_json::Value> = reports
        .iter()
        .flat_map(|report| {
            report.findings.iter().map(move |finding| {
                let mut value = serde_json::json!({
                    "file": report.file, "document": report.index, "kind": report.kind, "name": report.name,
                    "severity": finding.severity, "field": finding.field, "message": finding.message,
                });
                if let Some(criteria) = &finding.criteria {
                    value["criteria"] = serde_json::json!({
                        "source": criteria.source, "line": criteria.diagnostic.line, "column": criteria.diagnostic.column,
                        "offset": criteria.diagnostic.offset, "rendered": criteria.diagnostic.render(&criteria.source),
                    });
                }
                value
            })
        })
        .collect();
    let report = serde_json::json!({
        "valid": unreadable.is_empty() && count(reports, Severity::Error) == 0,
        "resources": reports.len(),
        "errors": count(reports, Severity::Error),
        "warnings": count(reports, Severity::Warning),
        "unreadable": unreadable.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "findings": findings,
    });
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &report)?;
    writeln!(out)
}
