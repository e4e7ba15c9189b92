//! Exact comparison of decimal numbers of any size, without allocating.
//!
//! A number is read as a sign, a run of significant digits and the position of the
//! decimal point relative to them: `-12.50e3` is `-`, `125` and 5 (`0.125 × 10^5`).
//! Two numbers then compare by sign, by point position and by digits, exactly, whatever
//! their size, which `f64` cannot do.

use std::cmp::Ordering;
use std::fmt::Write;

/// A decimal number borrowed from its text: the significant digits are `head` followed
/// by `tail` (the integer and fraction digits, around the decimal point).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decimal<'a> {
    negative: bool,
    head: &'a [u8],
    tail: &'a [u8],
    /// The value is `0.{head}{tail} × 10^point`.
    point: i64,
}

/// Exponents are clamped to this magnitude, far beyond any digit count a 16 KiB text or
/// a JSON document can hold, so clamping never changes an order.
const MAX_EXPONENT: i64 = 1 << 40;

/// How strictly [`Decimal::parse`] reads a number.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// A JSON number: no leading zeros (`0`, `10`, `-1.5e3`).
    Json,
    /// A decimal number in a string: leading zeros allowed (`007`, `-1.5`).
    Lenient,
}

impl<'a> Decimal<'a> {
    /// Reads `text` as `-?digits(.digits)?([eE][+-]?digits)?`.
    pub(crate) fn parse(text: &'a str, syntax: Syntax) -> Option<Self> {
        let bytes = text.as_bytes();
        let (negative, rest) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, bytes),
        };
        let int_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (int, rest) = rest.split_at(int_len);
        if int.is_empty() || (syntax == Syntax::Json && int.len() > 1 && int[0] == b'0') {
            return None;
        }
        let (frac, rest) = match rest.split_first() {
            Some((b'.', rest)) => {
                let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                if len == 0 {
                    return None;
                }
                rest.split_at(len)
            }
            _ => (&rest[..0], rest),
        };
        let exponent = match rest.split_first() {
            None => 0,
            Some((b'e' | b'E', rest)) => exponent(rest)?,
            Some(_) => return None,
        };
        Some(Self::new(negative, int, frac, exponent))
    }

    /// Formats a JSON number (as serde_json holds it) into `buf` and reads it back.
    pub(crate) fn from_json(number: &serde_json::Number, buf: &'a mut Buffer) -> Option<Self> {
        buf.len = 0;
        write!(buf, "{number}").ok()?;
        let text = std::str::from_utf8(&buf.bytes[..buf.len]).ok()?;
        Self::parse(text, Syntax::Lenient)
    }

    fn new(negative: bool, int: &'a [u8], frac: &'a [u8], exponent: i64) -> Self {
        let mut point = int.len() as i64 + exponent;
        let mut head = int;
        let mut tail = frac;
        while let [b'0', rest @ ..] = head {
            head = rest;
            point -= 1;
        }
        if head.is_empty() {
            while let [b'0', rest @ ..] = tail {
                tail = rest;
                point -= 1;
            }
        }
        while let [rest @ .., b'0'] = tail {
            tail = rest;
        }
        if tail.is_empty() {
            while let [rest @ .., b'0'] = head {
                head = rest;
            }
        }
        Self {
            negative,
            head,
            tail,
            point,
        }
    }

    fn is_zero(&self) -> bool {
        self.head.is_empty() && self.tail.is_empty()
    }

    fn digits(&self) -> impl Iterator<Item = &u8> {
        self.head.iter().chain(self.tail)
    }

    /// Compares two numbers by value.
    pub(crate) fn compare(&self, other: &Decimal<'_>) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return sign(!other.negative).reverse(),
            (false, true) => return sign(!self.negative),
            (false, false) => {}
        }
        if self.negative != other.negative {
            return sign(other.negative);
        }
        let magnitude = self
            .point
            .cmp(&other.point)
            .then_with(|| self.digits().cmp(other.digits()));
        if self.negative {
            magnitude.reverse()
        } else {
            magnitude
        }
    }

    /// The significant digits and point position, owned.
    pub(crate) fn to_owned(self) -> OwnedDecimal {
        OwnedDecimal {
            negative: self.negative,
            digits: self.digits().copied().collect(),
            point: self.point,
        }
    }
}

/// `Greater` when `positive`, else `Less`.
fn sign(positive: bool) -> Ordering {
    if positive {
        Ordering::Greater
    } else {
        Ordering::Less
    }
}

/// Reads `[+-]?digits` as an exponent, clamped to ±[`MAX_EXPONENT`].
fn exponent(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits.iter().fold(0i64, |acc, d| {
        (acc * 10 + i64::from(d - b'0')).min(MAX_EXPONENT)
    });
    Some(if negative { -value } else { value })
}

/// A [`Decimal`] that owns its digits, for the numbers written in an expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OwnedDecimal {
    negative: bool,
    digits: Box<[u8]>,
    point: i64,
}

impl OwnedDecimal {
    /// Borrows it as a [`Decimal`].
    pub(crate) fn as_decimal(&self) -> Decimal<'_> {
        Decimal {
            negative: self.negative,
            head: &self.digits,
            tail: &[],
            point: self.point,
        }
    }
}

/// A stack buffer to format a JSON number into; long enough for any `u64`, `i64` or
/// `f64`. A longer number (serde_json's `arbitrary_precision`) fails to format and so
/// compares with nothing.
pub(crate) struct Buffer {
    bytes: [u8; 64],
    len: usize,
}

impl Buffer {
    /// An empty buffer.
    pub(crate) const fn new() -> Self {
        Self {
            bytes: [0; 64],
            len: 0,
        }
    }
}

impl Write for Buffer {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let target = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        target.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        let a = Decimal::parse(a, Syntax::Lenient).unwrap();
        let b = Decimal::parse(b, Syntax::Lenient).unwrap();
        a.compare(&b)
    }

    #[test]
    fn compares_by_value() {
        use Ordering::*;
        for (a, b, expected) in [
            ("0", "-0", Equal),
            ("0.0", "0e10", Equal),
            ("1", "1.000", Equal),
            ("10", "1e1", Equal),
            ("100", "1E+2", Equal),
            ("0.01", "1e-2", Equal),
            ("007", "7", Equal),
            ("2", "10", Less),
            ("-2", "-10", Greater),
            ("-1", "0", Less),
            ("0", "-1", Greater),
            ("0.5", "0", Greater),
            ("1.5", "1.25", Greater),
            ("0.001", "0.01", Less),
            (
                "99999999999999999999999999999",
                "99999999999999999999999999998",
                Greater,
            ),
            ("18446744073709551616", "18446744073709551615", Greater),
            ("-18446744073709551616", "-18446744073709551615", Less),
            (
                "123456789012345678901234567890",
                "1.2345678901234567890123456789e29",
                Equal,
            ),
            (
                "1e99999999999999999999999",
                "1e99999999999999999999998",
                Equal,
            ),
        ] {
            assert_eq!(cmp(a, b), expected, "{a} vs {b}");
            assert_eq!(cmp(b, a), expected.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        for text in [
            "", "-", "+1", "1.", ".5", "1e", "1e+", "0x10", "1 ", "1_000", "NaN",
        ] {
            assert!(Decimal::parse(text, Syntax::Lenient).is_none(), "{text:?}");
        }
        assert!(Decimal::parse("007", Syntax::Json).is_none());
        assert!(Decimal::parse("0.7", Syntax::Json).is_some());
    }

    #[test]
    fn reads_serde_json_numbers() {
        let mut buf = Buffer::new();
        for (json, text) in [
            ("12", "12"),
            ("-3", "-3"),
            ("1.5", "1.5"),
            ("1e300", "1e300"),
        ] {
            let number: serde_json::Number = serde_json::from_str(json).unwrap();
            let value = Decimal::from_json(&number, &mut buf).unwrap();
            let expected = Decimal::parse(text, Syntax::Json).unwrap();
            assert_eq!(value.compare(&expected), Ordering::Equal, "{json}");
        }
    }
}
