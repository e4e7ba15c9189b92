//! `cxf-operator criteria`: check, evaluate and format Gatekeeper Criteria expressions
//! from the command line. Exit codes: 0 success, 1 invalid expression, 2 unusable event
//! (or bad usage).

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use cxf_operator::criteria::{self, Criteria, Diagnostic, Event};
use serde::Serialize;

/// Check, evaluate and format Gatekeeper Criteria expressions.
#[derive(clap::Args)]
#[command(after_help = r#"Examples:
  cxf-operator criteria check '/eventType eq "CustomerCreateEvent" and /event/customer/id gt 10000'
  cxf-operator criteria eval '/event/customer/id gt 10000' --event event.json --op POST
  cxf-operator criteria fmt '(ID pr or /event/individual/familyName pr)'"#)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check an expression: print `ok` (and any warnings) or the errors.
    #[command(after_help = r#"Examples:
  cxf-operator criteria check '/eventType eq "CustomerCreateEvent"'
  cxf-operator criteria check --json 'familyName eq "abc"'

Exit status: 0 when valid, 1 when not. Warnings go to stderr; with --json everything
goes to stdout as {"valid":bool,"errors":[...],"warnings":[...]}."#)]
    Check {
        /// The expression, e.g. '/eventType eq "CustomerCreateEvent"' or '*'.
        expr: String,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate an expression against an event envelope: print `true` or `false`.
    #[command(after_help = r#"Examples:
  cxf-operator criteria eval '"/event/customer/id" gt 10000' --event event.json
  echo '{"eventType":"CustomerCreateEvent"}' | cxf-operator criteria eval '/eventType sw "Customer"' --event -
  cxf-operator criteria eval 'ID sw "NEW-" and OP eq "POST"' --event event.json --id NEW-1 --op POST

Exit status: 0 with the result, 1 when the expression is invalid, 2 when the event
cannot be read or is not JSON."#)]
    Eval {
        /// The expression.
        expr: String,
        /// The event envelope, a JSON file; `-` reads stdin.
        #[arg(long, value_name = "FILE")]
        event: PathBuf,
        /// A URL path id of the request (`ID`); repeat for several.
        #[arg(long = "id", value_name = "ID")]
        ids: Vec<String>,
        /// The request's HTTP method (`OP`).
        #[arg(long, value_name = "METHOD")]
        op: Option<String>,
        /// The request's endpoint type (`MS`).
        #[arg(long, value_name = "TYPE")]
        ms: Option<String>,
    },
    /// Print an expression in canonical form.
    #[command(after_help = r#"Example:
  cxf-operator criteria fmt '(/eventType EQ "A" or /eventType eq "B" AND "/event/x" pr)'
  prints: /eventType eq "A" or (/eventType eq "B" and /event/x pr)

Exit status: 0 when valid, 1 (with the errors on stderr) when not."#)]
    Fmt {
        /// The expression.
        expr: String,
    },
}

impl Args {
    /// Runs the subcommand and returns its exit status.
    pub fn run(self) -> ExitCode {
        let Self { command } = self;
        match command {
            Command::Check { expr, json } => check(&expr, json),
            Command::Eval {
                expr,
                event,
                ids,
                op,
                ms,
            } => eval(&expr, &event, &ids, op.as_deref(), ms.as_deref()),
            Command::Fmt { expr } => fmt(&expr),
        }
    }
}

/// The result of `check --json`.
#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    errors: &'a [Diagnostic],
    warnings: &'a [Diagnostic],
}

fn check(expr: &str, json: bool) -> ExitCode {
    let parsed = criteria::parse(expr);
    if json {
        let (errors, warnings): (&[Diagnostic], &[Diagnostic]) = match &parsed {
            Ok(criteria) => (&[], criteria.warnings()),
            Err(errors) => (&errors.0, &[]),
        };
        let report = Report {
            valid: parsed.is_ok(),
            errors,
            warnings,
        };
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        return exit(parsed.is_ok());
    }
    match parsed {
        Ok(criteria) => {
            println!("ok");
            for warning in criteria.warnings() {
                eprintln!("{}\n", warning.render(expr));
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{}", errors.render(expr));
            ExitCode::FAILURE
        }
    }
}

fn eval(expr: &str, path: &Path, ids: &[String], op: Option<&str>, ms: Option<&str>) -> ExitCode {
    let Some(criteria) = parse_or_report(expr) else {
        return ExitCode::FAILURE;
    };
    let envelope = match read_event(path) {
        Ok(envelope) => envelope,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let event = Event {
        envelope: &envelope,
        ids,
        op,
        ms,
    };
    println!("{}", criteria.evaluate(&event));
    ExitCode::SUCCESS
}

fn fmt(expr: &str) -> ExitCode {
    match parse_or_report(expr) {
        Some(criteria) => {
            println!("{criteria}");
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}

/// Parses `expr`, printing the errors to stderr if it is invalid.
fn parse_or_report(expr: &str) -> Option<Criteria> {
    criteria::parse(expr)
        .inspect_err(|errors| eprintln!("{}", errors.render(expr)))
        .ok()
}

/// Why the event envelope could not be used.
#[derive(Debug, thiserror::Error)]
enum EventError {
    #[error("reading the event from {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error(
        "reading the event from {path}: larger than {} bytes",
        super::validate::MAX_INPUT_BYTES
    )]
    TooLarge { path: String },
    #[error("parsing the event from {path} as JSON: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

/// Reads the event envelope from `path`, or from stdin when it is `-`: at most
/// `MAX_INPUT_BYTES`, nested at most 128 deep (serde_json's limit, which keeps parsing,
/// evaluating and dropping the value off the end of the stack).
fn read_event(path: &Path) -> Result<serde_json::Value, EventError> {
    let (name, text) = if path.as_os_str() == "-" {
        (
            "stdin".to_owned(),
            super::validate::read_bounded(io::stdin().lock()),
        )
    } else {
        (
            path.display().to_string(),
            std::fs::File::open(path).and_then(super::validate::read_bounded),
        )
    };
    let text = text
        .map_err(|source| EventError::Read {
            path: name.clone(),
            source,
        })?
        .ok_or_else(|| EventError::TooLarge { path: name.clone() })?;
    serde_json::from_str(&text).map_err(|source| EventError::Parse { path: name, source })
}

fn exit(success: bool) -> ExitCode {
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
