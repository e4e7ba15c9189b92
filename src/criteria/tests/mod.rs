//! Table tests of the criteria language: one module per part of `docs/criteria.md`.

mod errors;
mod evaluation;
mod grammar;
mod properties;

use serde_json::Value as Json;

use super::{Criteria, Diagnostic, Event, parse};

/// Parses `source`, which must be valid.
fn valid(source: &str) -> Criteria {
    parse(source).unwrap_or_else(|e| panic!("{source:?} should parse: {e}"))
}

/// Parses `source`, which must be invalid, and returns its errors.
fn invalid(source: &str) -> Vec<Diagnostic> {
    match parse(source) {
        Ok(criteria) => panic!("{source:?} should not parse, got {criteria}"),
        Err(errors) => errors.0,
    }
}

/// Evaluates `source` against `envelope` with no request attributes.
fn matches(source: &str, envelope: &Json) -> bool {
    valid(source).evaluate(&Event {
        envelope,
        ids: &[],
        op: None,
        ms: None,
    })
}
