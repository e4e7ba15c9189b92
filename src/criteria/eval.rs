//! Evaluation of a parsed expression against an event.
//!
//! Nothing here allocates: pointers were split into segments and values decoded at
//! parse time, and numbers from the event are compared through a stack buffer.

use std::cmp::Ordering;

use serde_json::Value as Json;

use super::Event;
use super::ast::{Attr, CompareOp, Comparison, Expr, Number, Segment, Test, Text, Value};
use super::number::{Buffer, Decimal, Syntax};

impl Expr {
    /// Whether the event matches the expression.
    pub fn evaluate(&self, event: &Event<'_>) -> bool {
        match self {
            Self::Or(operands) => operands.iter().any(|e| e.evaluate(event)),
            Self::And(operands) => operands.iter().all(|e| e.evaluate(event)),
            Self::Not(operand) => !operand.evaluate(event),
            Self::Comparison(comparison) => comparison.evaluate(event),
        }
    }
}

impl Comparison {
    /// Whether the event satisfies the comparison. `ne` is the negation of `eq`, so a
    /// missing attribute is `ne` everything.
    pub fn evaluate(&self, event: &Event<'_>) -> bool {
        match &self.test {
            Test::Present => self.any(event, present_str, present),
            Test::Compare(CompareOp::Ne, value) => !self.compare(CompareOp::Eq, value, event),
            Test::Compare(op, value) => self.compare(*op, value, event),
        }
    }

    fn compare(&self, op: CompareOp, value: &Value, event: &Event<'_>) -> bool {
        self.any(
            event,
            |s| test_str(op, s, value),
            |json| test_json(op, json, value),
        )
    }

    /// Whether any value the attribute stands for satisfies the test: `on_str` for the
    /// request's ids, method and endpoint type, `on_json` for the envelope.
    fn any(
        &self,
        event: &Event<'_>,
        on_str: impl Fn(&str) -> bool,
        on_json: impl Fn(&Json) -> bool,
    ) -> bool {
        match &self.attr {
            Attr::Id => event.ids.iter().any(|id| on_str(id)),
            Attr::Op => event.op.is_some_and(on_str),
            Attr::Ms => event.ms.is_some_and(on_str),
            Attr::Pointer(pointer) => resolve(event.envelope, pointer.segments(), &on_json),
        }
    }
}

/// Follows `segments` from `json` and tests what they lead to. An array met on the way
/// fans out (any element may match) unless the segment is an index into it.
fn resolve(json: &Json, segments: &[Segment], test: &impl Fn(&Json) -> bool) -> bool {
    let Some((segment, rest)) = segments.split_first() else {
        return test(json);
    };
    match json {
        Json::Object(map) => map
            .get(segment.key())
            .is_some_and(|child| resolve(child, rest, test)),
        Json::Array(items) => match segment.index() {
            Some(index) => items
                .get(index)
                .is_some_and(|child| resolve(child, rest, test)),
            None => items.iter().any(|item| resolve(item, segments, test)),
        },
        _ => false,
    }
}

/// `pr` on a request attribute.
fn present_str(text: &str) -> bool {
    !text.is_empty()
}

/// `pr` on an envelope value: not null, `""`, `[]` or `{}`.
fn present(json: &Json) -> bool {
    match json {
        Json::Null => false,
        Json::String(s) => !s.is_empty(),
        Json::Array(items) => !items.is_empty(),
        Json::Object(map) => !map.is_empty(),
        Json::Bool(_) | Json::Number(_) => true,
    }
}

/// `op value` on an envelope value; an array matches when any element does.
fn test_json(op: CompareOp, json: &Json, value: &Value) -> bool {
    match (json, value) {
        (Json::Array(items), _) => items.iter().any(|item| test_json(op, item, value)),
        (Json::String(s), _) => test_str(op, s, value),
        (Json::Number(n), Value::Number(v)) => holds(op, compare_numbers(n, v)),
        (Json::Bool(b), Value::Bool(v)) => op == CompareOp::Eq && b == v,
        (Json::Null, Value::Null) => op == CompareOp::Eq,
        _ => false,
    }
}

/// `op value` on a string.
fn test_str(op: CompareOp, s: &str, value: &Value) -> bool {
    match value {
        Value::String(text) => test_text(op, s, text),
        Value::Number(number) => Decimal::parse(s, Syntax::Lenient)
            .is_some_and(|d| holds(op, Some(d.compare(&number.decimal())))),
        Value::Bool(_) | Value::Null => false,
    }
}

/// `op "text"` on a string: exact, by code point, or in time when both are date-times.
fn test_text(op: CompareOp, s: &str, text: &Text) -> bool {
    let value = text.as_str();
    match op {
        CompareOp::Eq => s == value,
        CompareOp::Ne => s != value,
        CompareOp::Co => s.contains(value),
        CompareOp::Sw => s.starts_with(value),
        CompareOp::Ew => s.ends_with(value),
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            let times = text
                .time()
                .and_then(|value_time| Some((value_time, super::ast::parse_time(s)?)));
            let order = match times {
                Some((value_time, time)) => time.cmp(&value_time),
                None => s.cmp(value),
            };
            holds(op, Some(order))
        }
    }
}

/// The order of an envelope number and a number value, exact whatever their size.
fn compare_numbers(n: &serde_json::Number, value: &Number) -> Option<Ordering> {
    if let (Some(a), Some(b)) = (n.as_i64(), value.integer()) {
        return Some(a.cmp(&b));
    }
    let mut buffer = Buffer::new();
    Decimal::from_json(n, &mut buffer).map(|d| d.compare(&value.decimal()))
}

/// Whether an order satisfies an operator; `co`, `sw` and `ew` never hold on numbers.
fn holds(op: CompareOp, order: Option<Ordering>) -> bool {
    let Some(order) = order else { return false };
    match op {
        CompareOp::Eq => order == Ordering::Equal,
        CompareOp::Ne => order != Ordering::Equal,
        CompareOp::Gt => order == Ordering::Greater,
        CompareOp::Ge => order != Ordering::Less,
        CompareOp::Lt => order == Ordering::Less,
        CompareOp::Le => order != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}
