//! The Gatekeeper Criteria language: the filter expressions of listener registrations,
//! hub subscriptions and gatekeeping rules, a dialect of the SCIM filter language.
//!
//! ```
//! use cxf_operator::criteria::{self, Event};
//!
//! let criteria = criteria::parse(r#"/eventType eq "CustomerCreateEvent" and "/event/customer/id" gt 10000"#)?;
//! let envelope = serde_json::json!({
//!     "eventType": "CustomerCreateEvent",
//!     "event": { "customer": { "id": "20000" } },
//! });
//! let event = Event { envelope: &envelope, ids: &[], op: Some("POST"), ms: None };
//! assert!(criteria.evaluate(&event));
//! assert_eq!(criteria.to_string(), r#"/eventType eq "CustomerCreateEvent" and /event/customer/id gt 10000"#);
//! # Ok::<(), criteria::Errors>(())
//! ```
//!
//! The text goes through `lex` (tokens with byte spans), `parse` (a recursive descent
//! parser to the tree in [`ast`], calling `lint` on the way), and is evaluated by
//! `eval` and printed by `print`. The grammar and every decision are in the project's
//! `shared/docs/criteria.md`. Nothing here does I/O.

pub mod ast;
mod diagnostic;
mod eval;
mod explain;
mod lex;
mod lint;
mod number;
mod parse;
mod print;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use self::diagnostic::{Diagnostic, Errors, Severity};
pub use self::explain::Mismatch;
pub use self::parse::{HTTP_METHODS, MAX_DEPTH, MAX_LEN};
use ast::Expr;

/// Parses a criteria text: `*`, or an expression.
///
/// # Errors
///
/// [`Errors`], with every problem found (at most 20), each located by line and
/// column, with a hint where one helps.
pub fn parse(source: &str) -> Result<Criteria, Errors> {
    let parsed = parse::parse(source).map_err(Errors)?;
    Ok(Criteria {
        expr: parsed.expr,
        warnings: parsed.warnings,
    })
}

/// A valid criteria expression, ready to evaluate; prints in canonical form.
#[derive(Clone, Debug)]
pub struct Criteria {
    /// `None` for `*`.
    expr: Option<Expr>,
    warnings: Vec<Diagnostic>,
}

impl Criteria {
    /// Lint findings: `and` mixed with `or` without parentheses, pointer segments with
    /// whitespace at their ends.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Whether the event matches.
    pub fn evaluate(&self, event: &Event<'_>) -> bool {
        self.expr.as_ref().is_none_or(|expr| expr.evaluate(event))
    }

    /// The comparison that makes the event not match, with the attribute's actual
    /// values; `None` when it matches.
    pub fn mismatch(&self, event: &Event<'_>) -> Option<Mismatch> {
        self.expr.as_ref().and_then(|expr| expr.mismatch(event))
    }

    /// Whether these are the criteria `*`, which match every event.
    pub fn is_match_all(&self) -> bool {
        self.expr.is_none()
    }

    /// The expression's tree; `None` for `*`.
    pub fn expr(&self) -> Option<&Expr> {
        self.expr.as_ref()
    }
}

impl fmt::Display for Criteria {
    /// The canonical form: it parses back to the same tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.expr {
            None => f.write_str("*"),
            Some(expr) => write!(f, "{expr}"),
        }
    }
}

impl FromStr for Criteria {
    type Err = Errors;

    fn from_str(source: &str) -> Result<Self, Errors> {
        parse(source)
    }
}

/// What criteria are evaluated against: an event envelope and the request that
/// produced it.
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    /// The event envelope, e.g. `{"eventType": ..., "event": {...}}`; pointers look
    /// into it.
    pub envelope: &'a serde_json::Value,
    /// The request's URL path ids (`ID`).
    pub ids: &'a [String],
    /// The request's HTTP method (`OP`).
    pub op: Option<&'a str>,
    /// The request's endpoint type (`MS`).
    pub ms: Option<&'a str>,
}
