//! A criteria expression held by a field: its syntax errors (errors) and lint findings
//! (warnings), each with the position inside the expression.

use super::{CriteriaFinding, Finding, Severity};
use crate::criteria;

/// Findings about the criteria `source` held at `field`.
pub(super) fn check(field: &str, source: &str) -> Vec<Finding> {
    let (severity, diagnostics) = match criteria::parse(source) {
        Ok(parsed) => (Severity::Warning, parsed.warnings().to_vec()),
        Err(errors) => (Severity::Error, errors.0),
    };
    diagnostics
        .into_iter()
        .map(|diagnostic| Finding {
            severity,
            field: field.to_owned(),
            message: diagnostic.to_string(),
            criteria: Some(CriteriaFinding {
                source: source.to_owned(),
                diagnostic,
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_are_errors_with_the_position() {
        let findings = check("spec.q", "/a eq");
        assert!(!findings.is_empty());
        assert!(findings.iter().all(Finding::is_error));
        assert!(
            findings[0].message.starts_with("line 1, column "),
            "{}",
            findings[0].message
        );
        assert!(findings[0].render().contains('^'));
    }

    #[test]
    fn lint_findings_are_warnings() {
        let findings = check("spec.q", "/a eq 1 or /b eq 2 and /c eq 3");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!(findings[0].message.contains("binds tighter"));
    }

    #[test]
    fn valid_criteria_have_no_findings() {
        assert!(check("spec.q", "*").is_empty());
        assert!(check("spec.q", "(/a eq 1 or /b eq 2) and /c eq 3").is_empty());
    }
}
