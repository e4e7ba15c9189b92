//! The one validation library behind the three doors: the admission webhook
//! ([`crate::webhook`]), `cxf-operator validate`, and (for the structural rules) the CRD
//! schema itself.
//!
//! Everything here is pure: an object goes in, [`Finding`]s come out. What needs a
//! lookup (which ListenerRegistrations and FrameworkConnections exist) is passed in as
//! [`Known`] names by the caller.
//!
//! - [`batch`] checks a set of documents together (`cxf-operator validate`);
//! - [`document`] turns an untyped manifest into one of our typed resources (serde for
//!   required fields, enums and types, with the path of the offending field);
//! - [`schema`] mirrors every rule the CRD schema states (patterns, lengths, ranges, and
//!   each CEL rule, by its message), so that a manifest checked offline gets the answer
//!   the API server would give;
//! - [`listener_registration`], [`gatekeeping_rule`] and [`framework_connection`] hold
//!   what the schema cannot say: criteria syntax with positions, rank uniqueness,
//!   duplicates, references.

pub mod batch;
pub mod document;
pub mod framework_connection;
pub mod gatekeeping_rule;
pub mod listener_registration;
pub mod schema;

mod criteria_field;

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::criteria::Diagnostic;
use crate::resources::framework_connection::connection_or_default;
use crate::resources::{FrameworkConnection, GatekeepingRule, ListenerRegistration};

pub use document::{Decoded, decode};

/// How serious a [`Finding`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The resource is refused.
    Error,
    /// The resource is accepted, and the finding is printed (kubectl prints admission
    /// warnings).
    Warning,
}

/// One problem found in a resource: the field (`spec.affiliatedApis[0].query`) and
/// what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Path of the offending field, in the resource's own (camelCase) names.
    pub field: String,
    /// What is wrong, and how to fix it where that is known. For criteria, it starts
    /// with the line and column inside the expression.
    pub message: String,
    /// For findings about a criteria expression: the expression and the diagnostic,
    /// for a caret rendering ([`Finding::render`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub criteria: Option<CriteriaFinding>,
}

/// A finding located inside a criteria expression.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CriteriaFinding {
    /// The expression as written in the resource.
    pub source: String,
    /// Where in the expression, and what.
    pub diagnostic: Diagnostic,
}

impl Finding {
    /// An error at `field`.
    pub fn error(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            field: field.into(),
            message: message.into(),
            criteria: None,
        }
    }

    /// A warning at `field`.
    pub fn warning(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(field, message)
        }
    }

    /// Whether the finding refuses the resource.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The finding on one line, followed for criteria by the expression with a caret
    /// under the position (rustc style).
    pub fn render(&self) -> String {
        match &self.criteria {
            None => self.to_string(),
            Some(c) => format!("{}: {}", self.field, c.diagnostic.render(&c.source)),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Names of the objects that exist, in the namespace of the resource being checked.
/// `None` means "not known": the reference checks are skipped.
#[derive(Clone, Debug, Default)]
pub struct Known {
    /// Names of the ListenerRegistrations.
    pub listener_registrations: Option<BTreeSet<String>>,
    /// Names of the FrameworkConnections.
    pub framework_connections: Option<BTreeSet<String>>,
}

/// One of the operator's resources, typed.
#[derive(Clone, Debug)]
pub enum Resource {
    /// A `FrameworkConnection`.
    FrameworkConnection(Box<FrameworkConnection>),
    /// A `ListenerRegistration`.
    ListenerRegistration(Box<ListenerRegistration>),
    /// A `GatekeepingRule`.
    GatekeepingRule(Box<GatekeepingRule>),
}

impl Resource {
    /// The kind, such as `ListenerRegistration`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::FrameworkConnection(_) => "FrameworkConnection",
            Self::ListenerRegistration(_) => "ListenerRegistration",
            Self::GatekeepingRule(_) => "GatekeepingRule",
        }
    }

    /// `metadata.name` (empty when missing, such as with `generateName`).
    pub fn name(&self) -> &str {
        let meta = match self {
            Self::FrameworkConnection(r) => &r.metadata,
            Self::ListenerRegistration(r) => &r.metadata,
            Self::GatekeepingRule(r) => &r.metadata,
        };
        meta.name.as_deref().unwrap_or_default()
    }

    /// `metadata.namespace`, if set.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Self::FrameworkConnection(r) => r.metadata.namespace.as_deref(),
            Self::ListenerRegistration(r) => r.metadata.namespace.as_deref(),
            Self::GatekeepingRule(r) => r.metadata.namespace.as_deref(),
        }
    }
}

/// Every finding about `resource`: the schema's structural rules, then the checks the
/// schema cannot express, then the references to other objects (warnings).
pub fn check(resource: &Resource, known: &Known) -> Vec<Finding> {
    let mut findings = match resource {
        Resource::FrameworkConnection(r) => {
            let mut findings = schema::framework_connection(&r.spec);
            findings.extend(framework_connection::check(&r.spec));
            findings
        }
        Resource::ListenerRegistration(r) => {
            let mut findings = schema::listener_registration(&r.spec);
            findings.extend(listener_registration::check(&r.spec, known));
            findings
        }
        Resource::GatekeepingRule(r) => {
            let mut findings = schema::gatekeeping_rule(&r.spec);
            // The framework's checks repeat some of the schema's (patterns, ranges,
            // required names): one error a field, the schema's.
            let repeated = |f: &Finding| {
                f.is_error() && findings.iter().any(|s| s.is_error() && s.field == f.field)
            };
            let more: Vec<Finding> = gatekeeping_rule::check(&r.spec, known)
                .into_iter()
                .filter(|f| !repeated(f))
                .collect();
            findings.extend(more);
            findings
        }
    };
    findings.sort_by_key(|f| f.severity);
    findings
}

/// The warning for a reference to an object that does not exist (yet: order of apply
/// varies, so this never refuses).
/// A warning when the FrameworkConnection that `spec.connectionName` names (or the
/// default one) is not among the known ones.
fn missing_connection(connection_name: Option<&str>, known: &Known) -> Option<Finding> {
    missing_reference(
        "spec.connectionName".into(),
        "FrameworkConnection",
        connection_or_default(connection_name),
        &known.framework_connections,
    )
}

fn missing_reference(
    field: String,
    kind: &str,
    name: &str,
    names: &Option<BTreeSet<String>>,
) -> Option<Finding> {
    let names = names.as_ref()?;
    (!names.contains(name)).then(|| {
        Finding::warning(
            field,
            format!("{kind} '{name}' does not exist in this namespace (yet); the resource stays not Ready until it does"),
        )
    })
}
