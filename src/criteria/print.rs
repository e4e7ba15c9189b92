//! The canonical printer: one text per tree, which parses back to the same tree.
//!
//! Operators and `and`/`or`/`not` are lower case, single spaces separate tokens,
//! parentheses appear exactly where the tree has a nested `and` or `or` (so mixed
//! `and`/`or` always come out parenthesized), pointers are bare unless they need quotes,
//! and numbers keep the text they were written with.

use std::fmt;

use super::ast::{Attr, Comparison, Expr, Pointer, Test, Value};
use super::lex::is_space;

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(self, f, false)
    }
}

/// Writes `expr`, in parentheses if it is an `and` or `or` inside another.
fn write_expr(expr: &Expr, f: &mut fmt::Formatter<'_>, nested: bool) -> fmt::Result {
    let (operands, join) = match expr {
        Expr::Or(operands) => (operands, " or "),
        Expr::And(operands) => (operands, " and "),
        Expr::Not(operand) => {
            f.write_str("not (")?;
            write_expr(operand, f, false)?;
            return f.write_str(")");
        }
        Expr::Comparison(comparison) => return write!(f, "{comparison}"),
    };
    if nested {
        f.write_str("(")?;
    }
    for (i, operand) in operands.iter().enumerate() {
        if i > 0 {
            f.write_str(join)?;
        }
        write_expr(operand, f, true)?;
    }
    if nested {
        f.write_str(")")?;
    }
    Ok(())
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        match &self.test {
            Test::Present => f.write_str(" pr"),
            Test::Compare(op, value) => write!(f, " {} {value}", op.as_str()),
        }
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id => f.write_str("ID"),
            Self::Op => f.write_str("OP"),
            Self::Ms => f.write_str("MS"),
            Self::Pointer(pointer) => write_pointer(pointer, f),
        }
    }
}

/// A pointer bare, or quoted when it holds whitespace, a parenthesis, a quote or a
/// control character.
fn write_pointer(pointer: &Pointer, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let text = pointer.to_string();
    if text
        .chars()
        .any(|c| is_space(c) || c.is_control() || matches!(c, '(' | ')' | '"'))
    {
        write!(f, "{}", serde_json::Value::from(text))
    } else {
        f.write_str(&text)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(text) => write!(f, "{}", serde_json::Value::from(text.as_str())),
            Self::Number(number) => f.write_str(number.as_str()),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Null => f.write_str("null"),
        }
    }
}
