//! Why an expression does not match an event: the first comparison that decided it,
//! with the values the attribute actually had. `cxf-operator route` prints it for each
//! listener that does not receive an event.
//!
//! The decisive comparison is found by walking the tree the way evaluation decides it:
//! the first false operand of an `and`, the first operand of an `or` (all are false),
//! and for `not (E)` the comparison that made `E` true (reported as `negated`).

use serde::Serialize;
use serde_json::Value as Json;

use super::Event;
use super::ast::{Attr, Comparison, Expr, Segment};

/// The comparison that made an expression false for an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// The comparison, printed canonically (`/eventType eq "TaxEvent1"`).
    pub comparison: String,
    /// True when the comparison held and a `not` around it made the expression false.
    pub negated: bool,
    /// The values the attribute had in the event (JSON text for envelope values); empty
    /// when the attribute is absent.
    pub actual: Vec<String>,
}

impl Expr {
    /// The comparison that makes this expression false for `event`; `None` when it
    /// matches.
    pub fn mismatch(&self, event: &Event<'_>) -> Option<Mismatch> {
        (!self.evaluate(event)).then(|| decisive(self, event, false))
    }
}

/// The comparison that decided that `expr` evaluates to `held`.
fn decisive(expr: &Expr, event: &Event<'_>, held: bool) -> Mismatch {
    match expr {
        Expr::Comparison(comparison) => mismatch_of(comparison, event, held),
        Expr::Not(operand) => decisive(operand, event, !held),
        Expr::And(operands) | Expr::Or(operands) => {
            // The first operand that evaluates to `held`: the first false operand of an
            // `and` (of an `or`, all are false), the first true one of an `or`.
            let operand = operands
                .iter()
                .find(|operand| operand.evaluate(event) == held)
                .unwrap_or(&operands[0]);
            decisive(operand, event, held)
        }
    }
}

fn mismatch_of(comparison: &Comparison, event: &Event<'_>, negated: bool) -> Mismatch {
    let actual = match &comparison.attr {
        Attr::Id => event.ids.to_vec(),
        Attr::Op => event.op.map(str::to_owned).into_iter().collect(),
        Attr::Ms => event.ms.map(str::to_owned).into_iter().collect(),
        Attr::Pointer(pointer) => {
            let mut found = Vec::new();
            collect(event.envelope, pointer.segments(), &mut found);
            found
        }
    };
    Mismatch {
        comparison: comparison.to_string(),
        negated,
        actual,
    }
}

/// The values `segments` lead to from `json`, fanning out over arrays as evaluation does.
fn collect(json: &Json, segments: &[Segment], found: &mut Vec<String>) {
    let Some((segment, rest)) = segments.split_first() else {
        found.push(json.to_string());
        return;
    };
    match json {
        Json::Object(map) => {
            if let Some(child) = map.get(segment.key()) {
                collect(child, rest, found);
            }
        }
        Json::Array(items) => match segment.index() {
            Some(index) => {
                if let Some(child) = items.get(index) {
                    collect(child, rest, found);
                }
            }
            None => items.iter().for_each(|item| collect(item, segments, found)),
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::criteria::{Event, Mismatch, parse};

    fn mismatch(source: &str, envelope: &Json, ids: &[String]) -> Option<Mismatch> {
        let event = Event {
            envelope,
            ids,
            op: Some("POST"),
            ms: None,
        };
        parse(source).unwrap().mismatch(&event)
    }

    use super::Json;

    #[test]
    fn the_first_false_comparison_and_its_actual_values() {
        let envelope =
            json!({"eventType": "TaxEvent2", "event": {"tax": {"lines": [{"id": 1}, {"id": 2}]}}});
        let found = |source: &str| mismatch(source, &envelope, &[]);
        assert_eq!(found(r#"/eventType eq "TaxEvent2""#), None);
        assert_eq!(found("*"), None);
        let cases = [
            (
                r#"/eventType eq "TaxEvent2" and /event/tax/lines/id gt 5"#,
                "/event/tax/lines/id gt 5",
                false,
                vec!["1", "2"],
            ),
            (
                r#"/eventType eq "TaxEvent1" or /eventType eq "TaxEvent3""#,
                r#"/eventType eq "TaxEvent1""#,
                false,
                vec![r#""TaxEvent2""#],
            ),
            (
                r#"not (/eventType sw "Tax")"#,
                r#"/eventType sw "Tax""#,
                true,
                vec![r#""TaxEvent2""#],
            ),
            (
                "/event/customer/id pr",
                "/event/customer/id pr",
                false,
                vec![],
            ),
            (r#"OP eq "GET""#, r#"OP eq "GET""#, false, vec!["POST"]),
        ];
        for (source, comparison, negated, actual) in cases {
            assert_eq!(
                found(source),
                Some(Mismatch {
                    comparison: comparison.into(),
                    negated,
                    actual: actual.into_iter().map(str::to_owned).collect(),
                }),
                "{source}"
            );
        }
        let ids = ["SBL-1".to_owned()];
        assert_eq!(
            mismatch(r#"ID sw "NEW-""#, &envelope, &ids).unwrap().actual,
            vec!["SBL-1".to_owned()]
        );
    }
}
