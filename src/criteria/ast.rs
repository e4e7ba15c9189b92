//! The syntax tree of a criteria expression.
//!
//! The tree holds everything evaluation needs already decoded: pointers split into
//! segments (with `~0` and `~1` undone and array indexes read), numbers read into exact
//! decimals, date-times parsed. It has no spans, so two texts that mean the same thing
//! give equal trees.

use std::fmt;

use time::OffsetDateTime;

use super::number::{Decimal, OwnedDecimal, Syntax};

/// An expression (anything but `*`).
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `A or B or ...`: true when any operand is. Always two or more operands; an `or`
    /// operand is an `or` only when the text parenthesized it.
    Or(Vec<Expr>),
    /// `A and B and ...`: true when every operand is. Always two or more operands; an
    /// `and` operand is an `and` only when the text parenthesized it.
    And(Vec<Expr>),
    /// `not (E)`: true when `E` is false.
    Not(Box<Expr>),
    /// `attr pr` or `attr op value`. Parentheses around a single comparison leave no
    /// trace in the tree.
    Comparison(Comparison),
}

/// `attr pr` or `attr op value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// What is tested: a part of the event or of the request.
    pub attr: Attr,
    /// How it is tested.
    pub test: Test,
}

/// The left-hand side of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// `ID`: the request's path ids; a comparison is true when any id satisfies it.
    Id,
    /// `OP`: the request's HTTP method.
    Op,
    /// `MS`: the request's endpoint type.
    Ms,
    /// `/event/customer/id` or `"/event/customer/id"`: a JSON Pointer into the envelope.
    Pointer(Pointer),
}

/// What a comparison does with its attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// `pr`: the attribute exists and is not null, `""`, `[]` or `{}`.
    Present,
    /// `op value`.
    Compare(CompareOp, Value),
}

/// A comparison operator; case-insensitive in the text, lower case when printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal; always the negation of `eq`.
    Ne,
    /// `co`: the string contains the value.
    Co,
    /// `sw`: the string starts with the value.
    Sw,
    /// `ew`: the string ends with the value.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
}

impl CompareOp {
    /// Every operator, in the order the documentation lists them.
    pub const ALL: [CompareOp; 9] = [
        Self::Eq,
        Self::Ne,
        Self::Co,
        Self::Sw,
        Self::Ew,
        Self::Gt,
        Self::Ge,
        Self::Lt,
        Self::Le,
    ];

    /// The operator's name as printed: `eq`, `ne`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    /// The operator named `name`, in any case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether it is `co`, `sw` or `ew`, which need a string value.
    pub fn is_substring(self) -> bool {
        matches!(self, Self::Co | Self::Sw | Self::Ew)
    }

    /// Whether it is `gt`, `ge`, `lt` or `le`.
    pub fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }
}

/// The right-hand side of a comparison: a JSON literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A JSON string, e.g. `"CustomerCreateEvent"`.
    String(Text),
    /// A JSON number, e.g. `10000`.
    Number(Number),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// A string value, with its date-time when it is an RFC 3339 date-time.
#[derive(Clone, Debug, PartialEq)]
pub struct Text {
    text: Box<str>,
    time: Option<OffsetDateTime>,
}

impl Text {
    /// Wraps `text`, parsing it as a date-time if it is one.
    pub fn new(text: impl Into<Box<str>>) -> Self {
        let text = text.into();
        let time = parse_time(&text);
        Self { text, time }
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The string's instant, when it is an RFC 3339 date-time.
    pub fn time(&self) -> Option<OffsetDateTime> {
        self.time
    }
}

/// Parses `text` as an RFC 3339 date-time.
pub(crate) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// A number value: its text as written, and its exact value.
#[derive(Clone, Debug, PartialEq)]
pub struct Number {
    text: Box<str>,
    value: OwnedDecimal,
    integer: Option<i64>,
}

impl Number {
    /// Reads a JSON number; `None` if `text` is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let value = Decimal::parse(text, Syntax::Json)?.to_owned();
        Some(Self {
            text: text.into(),
            value,
            integer: text.parse().ok(),
        })
    }

    /// The number as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its exact value.
    pub(crate) fn decimal(&self) -> Decimal<'_> {
        self.value.as_decimal()
    }

    /// Its value when it is written as an integer that fits an `i64`.
    pub(crate) fn integer(&self) -> Option<i64> {
        self.integer
    }
}

/// An RFC 6901 JSON Pointer, decoded into segments.
#[derive(Clone, Debug, PartialEq)]
pub struct Pointer {
    segments: Vec<Segment>,
}

/// One segment of a [`Pointer`], with `~1` and `~0` decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    key: Box<str>,
    index: Option<usize>,
}

impl Segment {
    /// The decoded segment: the key to look up in an object.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The array index the segment stands for, when it is one (`0`, or digits without a
    /// leading zero).
    pub fn index(&self) -> Option<usize> {
        self.index
    }
}

impl Pointer {
    /// Decodes `text`, which starts with `/`; on an invalid `~` escape, returns the
    /// byte offset of the `~` in `text`.
    pub fn parse(text: &str) -> Result<Self, usize> {
        let mut segments = Vec::new();
        let mut offset = 1;
        for raw in text[1..].split('/') {
            if let Some(bad) = raw
                .match_indices('~')
                .find(|&(i, _)| !matches!(raw.as_bytes().get(i + 1), Some(b'0' | b'1')))
            {
                return Err(offset + bad.0);
            }
            let key = if raw.contains('~') {
                raw.replace("~1", "/").replace("~0", "~")
            } else {
                raw.to_owned()
            };
            let index = (key == "0" || (!key.starts_with('0') && !key.is_empty()))
                .then(|| key.parse().ok())
                .flatten()
                .filter(|_| key.bytes().all(|b| b.is_ascii_digit()));
            segments.push(Segment {
                key: key.into(),
                index,
            });
            offset += raw.len() + 1;
        }
        Ok(Self { segments })
    }

    /// The decoded segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

impl fmt::Display for Pointer {
    /// The pointer's RFC 6901 text, with `~` and `/` in segments escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            f.write_str("/")?;
            for c in segment.key.chars() {
                match c {
                    '~' => f.write_str("~0")?,
                    '/' => f.write_str("~1")?,
                    c => write!(f, "{c}")?,
                }
            }
        }
        Ok(())
    }
}
