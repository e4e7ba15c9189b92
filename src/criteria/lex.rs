//! The lexer: criteria text to tokens with byte spans.
//!
//! There are four kinds of token: the two parentheses, JSON strings, and words. A word is
//! a run of characters other than whitespace, parentheses and double quotes; the parser
//! decides whether a word is a keyword, an operator, a pointer or a number.

use std::borrow::Cow;
use std::ops::Range;

use super::diagnostic::Diagnostic;

/// A token and where it is in the source.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token<'s> {
    /// What the token is.
    pub kind: Kind<'s>,
    /// Its byte range in the source.
    pub span: Range<usize>,
    /// Whether whitespace comes right before it.
    pub space_before: bool,
}

/// The kinds of token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kind<'s> {
    /// `(`
    Open,
    /// `)`
    Close,
    /// A JSON string, decoded (borrowed from the source when it has no escapes).
    Str(Cow<'s, str>),
    /// Anything else up to whitespace, a parenthesis or a double quote.
    Word(&'s str),
}

impl Token<'_> {
    /// How the token reads in a message: `` `eq` ``, `"("`, or a quoted string.
    pub fn describe(&self, source: &str) -> String {
        let text = &source[self.span.clone()];
        const MAX: usize = 40;
        if text.chars().count() > MAX {
            let cut: String = text.chars().take(MAX).collect();
            format!("`{cut}...`")
        } else {
            format!("`{text}`")
        }
    }
}

/// Whitespace as the grammar knows it: space, tab, CR and LF.
pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits `source` into tokens; malformed strings are reported in `errors` and lexed as
/// far as they go.
pub(crate) fn lex<'s>(source: &'s str, errors: &mut Vec<Diagnostic>) -> Vec<Token<'s>> {
    let mut tokens = Vec::new();
    let mut chars = source.char_indices().peekable();
    let mut space_before = true;
    while let Some((start, c)) = chars.next() {
        let kind = match c {
            c if is_space(c) => {
                space_before = true;
                continue;
            }
            '(' => Kind::Open,
            ')' => Kind::Close,
            '"' => {
                let (text, end) = string(source, start, errors);
                while chars.next_if(|&(i, _)| i < end).is_some() {}
                tokens.push(Token {
                    kind: Kind::Str(text),
                    span: start..end,
                    space_before,
                });
                space_before = false;
                continue;
            }
            _ => {
                let mut end = start + c.len_utf8();
                while let Some((i, c)) =
                    chars.next_if(|&(_, c)| !is_space(c) && !matches!(c, '(' | ')' | '"'))
                {
                    end = i + c.len_utf8();
                }
                tokens.push(Token {
                    kind: Kind::Word(&source[start..end]),
                    span: start..end,
                    space_before,
                });
                space_before = false;
                continue;
            }
        };
        tokens.push(Token {
            kind,
            span: start..start + 1,
            space_before,
        });
        space_before = false;
    }
    tokens
}

/// Decodes the JSON string that starts at byte `start` (a `"`); returns its content and
/// the byte offset just past its closing quote (or the end of the source).
fn string<'s>(
    source: &'s str,
    start: usize,
    errors: &mut Vec<Diagnostic>,
) -> (Cow<'s, str>, usize) {
    let plain = source[start + 1..]
        .find(|c: char| c == '"' || c == '\\' || (c as u32) < 0x20)
        .map(|len| start + 1 + len)
        .filter(|&end| source.as_bytes()[end] == b'"');
    if let Some(end) = plain {
        return (Cow::Borrowed(&source[start + 1..end]), end + 1);
    }
    let mut out = String::new();
    let mut at = start + 1;
    while let Some(c) = source[at..].chars().next() {
        let next = at + c.len_utf8();
        match c {
            '"' => return (Cow::Owned(out), next),
            '\\' => {
                let Some(escaped) = source[next..].chars().next() else {
                    break;
                };
                let mut after = next + escaped.len_utf8();
                match escaped {
                    '"' | '\\' | '/' => out.push(escaped),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => match unicode_escape(&source[at..]) {
                        Ok((c, len)) => {
                            out.push(c);
                            after = at + len;
                        }
                        Err(message) => errors.push(
                            Diagnostic::error(source, at, message)
                                .with_hint("write \\u and four hex digits, e.g. \\u00e9"),
                        ),
                    },
                    other => errors.push(
                        Diagnostic::error(
                            source,
                            at,
                            format!("invalid escape `\\{other}` in a string"),
                        )
                        .with_expected_found(
                            "one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX",
                            format!("`\\{other}`"),
                        )
                        .with_hint("write `\\\\` for a backslash"),
                    ),
                }
                at = after;
                continue;
            }
            c if (c as u32) < 0x20 => errors.push(
                Diagnostic::error(
                    source,
                    at,
                    format!("control character U+{:04X} in a string", c as u32),
                )
                .with_hint("escape it, e.g. \\n for a line feed or \\t for a tab"),
            ),
            c => out.push(c),
        }
        at = next;
    }
    errors.push(
        Diagnostic::error(source, start, "unterminated string")
            .with_expected_found("a closing `\"`", "end of input")
            .with_hint("close the string with `\"`, and escape quotes inside it as `\\\"`"),
    );
    (Cow::Owned(out), source.len())
}

/// Decodes the `\uXXXX` escape (and a low surrogate's `\uXXXX` after a high one) at the
/// start of `text`; returns the character and the escape's length in bytes.
fn unicode_escape(text: &str) -> Result<(char, usize), &'static str> {
    let high = hex4(&text[2..]).ok_or("`\\u` must be followed by four hex digits")?;
    if (0xDC00..0xE000).contains(&high) {
        return Err("a low surrogate `\\uDCxx` must follow a high surrogate `\\uD8xx`");
    }
    if !(0xD800..0xDC00).contains(&high) {
        let c = char::from_u32(high).ok_or("invalid unicode escape")?;
        return Ok((c, 6));
    }
    let low = text
        .get(6..)
        .and_then(|rest| rest.strip_prefix("\\u"))
        .and_then(hex4)
        .filter(|low| (0xDC00..0xE000).contains(low))
        .ok_or("a high surrogate `\\uD8xx` must be followed by a low surrogate `\\uDCxx`")?;
    let c = char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        .ok_or("invalid surrogate pair")?;
    Ok((c, 12))
}

/// The value of the four hex digits at the start of `text`.
fn hex4(text: &str) -> Option<u32> {
    let digits = text.get(..4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}
