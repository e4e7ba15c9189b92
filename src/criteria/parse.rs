//! The parser: tokens to a syntax tree, by recursive descent.
//!
//! ```text
//! criteria   = ws "*" ws / ws expr ws
//! expr       = and-exp *( ws1 OR ws1 and-exp )
//! and-exp    = unary *( ws1 AND ws1 unary )
//! unary      = NOT ws "(" ws expr ws ")" / "(" ws expr ws ")" / comparison
//! comparison = attr ws1 "pr" / attr ws1 compare-op ws1 value
//! ```
//!
//! Recursion only happens at parentheses, and stops at [`MAX_DEPTH`], so no input can
//! overflow the stack. An error inside a comparison is recorded and the parser skips to
//! the next `and`, `or` or `)`, so one run reports every bad comparison; an error in the
//! structure (a missing `)`, input after the end) stops it.

use super::ast::{Attr, CompareOp, Comparison, Expr, Number, Pointer, Test, Text, Value};
use super::diagnostic::Diagnostic;
use super::lex::{self, Kind, Token};
use super::lint;

/// The longest criteria text accepted, in bytes.
pub const MAX_LEN: usize = 16 * 1024;

/// The deepest nesting of parentheses accepted.
pub const MAX_DEPTH: usize = 64;

/// The most errors reported for one text.
const MAX_ERRORS: usize = 20;

/// The HTTP methods `OP` can be compared with.
pub const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A parsed criteria text: `None` for `*`, with its lint warnings.
pub(crate) struct Parsed {
    pub expr: Option<Expr>,
    pub warnings: Vec<Diagnostic>,
}

/// Parses a whole criteria text.
pub(crate) fn parse(source: &str) -> Result<Parsed, Vec<Diagnostic>> {
    parse_text(source).map_err(|errors| extra_quotes(source).map_or(errors, |e| vec![e]))
}

fn parse_text(source: &str) -> Result<Parsed, Vec<Diagnostic>> {
    if source.len() > MAX_LEN {
        return Err(vec![
            Diagnostic::error(
                source,
                MAX_LEN,
                format!(
                    "the criteria are {} bytes long, more than the limit of {MAX_LEN}",
                    source.len()
                ),
            )
            .with_hint("split the rule, or test fewer values"),
        ]);
    }
    let mut errors = Vec::new();
    let tokens = lex::lex(source, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    match tokens.as_slice() {
        [] => {
            return Err(vec![
                Diagnostic::error(source, source.len(), "the criteria are empty")
                    .with_expected_found("an expression or `*`", "end of input")
                    .with_hint("write `*` to match every event"),
            ]);
        }
        [
            Token {
                kind: Kind::Word("*"),
                ..
            },
        ] => {
            return Ok(Parsed {
                expr: None,
                warnings: Vec::new(),
            });
        }
        _ => {}
    }
    let mut parser = Parser {
        source,
        tokens,
        pos: 0,
        errors,
        warnings: Vec::new(),
    };
    let expr = parser.expr_to_end();
    match expr {
        Ok(Some(expr)) if parser.errors.is_empty() => Ok(Parsed {
            expr: Some(expr),
            warnings: parser.warnings,
        }),
        _ => Err(parser.errors),
    }
}

/// A text wrapped in one more pair of quotes than it needs, as the user guide prints
/// `""/event/customer/id" gt 10000"`: an error whose hint drops the quotes.
fn extra_quotes(source: &str) -> Option<Diagnostic> {
    let start = source.find(|c| !lex::is_space(c))?;
    let trimmed = source.trim_matches(lex::is_space);
    let inner = trimmed.strip_prefix('"')?.strip_suffix('"')?;
    parse_text(inner).ok()?;
    Some(
        Diagnostic::error(
            source,
            start,
            "the whole criteria are wrapped in an extra pair of quotes",
        )
        .with_expected_found("an expression", format!("`{}`", truncate(trimmed)))
        .with_hint(format!("drop the outer quotes: {}", truncate(inner.trim()))),
    )
}

/// An error has been recorded and parsing cannot go on.
struct Fatal;

/// `Ok(None)`: an error has been recorded and parsing went on past it.
type Step<T> = Result<Option<T>, Fatal>;

struct Parser<'s> {
    source: &'s str,
    tokens: Vec<Token<'s>>,
    pos: usize,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl<'s> Parser<'s> {
    fn peek(&self) -> Option<&Token<'s>> {
        self.tokens.get(self.pos)
    }

    fn peek_word(&self) -> Option<&'s str> {
        match self.peek()?.kind {
            Kind::Word(word) => Some(word),
            _ => None,
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        self.peek_word()
            .is_some_and(|w| w.eq_ignore_ascii_case(keyword))
    }

    /// What the next token is, for messages.
    fn found(&self) -> String {
        self.peek()
            .map_or_else(|| "end of input".to_owned(), |t| t.describe(self.source))
    }

    /// The offset of the next token, or the end of the source.
    fn offset(&self) -> usize {
        self.peek().map_or(self.source.len(), |t| t.span.start)
    }

    fn error(&mut self, diagnostic: Diagnostic) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(diagnostic);
        }
    }

    /// Checks the whitespace the grammar requires before the next token: two tokens
    /// next to each other need whitespace between them unless one is a parenthesis.
    fn check_gap(&mut self, what: &str) {
        let Some(token) = self.peek() else { return };
        let Some(previous) = self.pos.checked_sub(1).map(|i| &self.tokens[i]) else {
            return;
        };
        let paren = |t: &Token<'_>| matches!(t.kind, Kind::Open | Kind::Close);
        if !token.space_before && !paren(token) && !paren(previous) {
            let found = token.describe(self.source);
            let offset = token.span.start;
            self.error(
                Diagnostic::error(
                    self.source,
                    offset,
                    format!("expected whitespace before {what}"),
                )
                .with_expected_found("whitespace", found)
                .with_hint("separate attributes, operators, values and `and`/`or` with a space"),
            );
        }
    }

    /// `expr` followed by the end of input.
    fn expr_to_end(&mut self) -> Step<Expr> {
        let expr = self.or(0)?;
        match self.peek() {
            None => Ok(expr),
            Some(Token {
                kind: Kind::Close,
                span,
                ..
            }) => {
                let offset = span.start;
                self.error(
                    Diagnostic::error(self.source, offset, "unmatched `)`")
                        .with_expected_found("`and`, `or` or the end of the criteria", "`)`")
                        .with_hint("remove it, or add the `(` it closes"),
                );
                Err(Fatal)
            }
            Some(_) => {
                let diagnostic = self.expected_and_or("the end of the criteria");
                self.error(diagnostic);
                Err(Fatal)
            }
        }
    }

    /// The error for a token where only `and`, `or` or `end` may come.
    fn expected_and_or(&self, end: &str) -> Diagnostic {
        let after_pr = self.pos > 0
            && matches!(self.tokens[self.pos - 1].kind, Kind::Word(w) if w.eq_ignore_ascii_case("pr"));
        let hint = if after_pr {
            "`pr` takes no value; join comparisons with `and` or `or`"
        } else {
            "join comparisons with `and` or `or`"
        };
        let expected = format!("`and`, `or` or {end}");
        Diagnostic::error(
            self.source,
            self.offset(),
            format!("expected {expected}, found {}", self.found()),
        )
        .with_expected_found(expected, self.found())
        .with_hint(hint)
    }

    /// `and-exp *( ws1 OR ws1 and-exp )`
    fn or(&mut self, depth: usize) -> Step<Expr> {
        let mut operands = Vec::new();
        let mut first_and = None;
        loop {
            let (operand, and_offset) = self.and(depth)?;
            operands.push(operand);
            first_and = first_and.or(and_offset);
            if !self.is_keyword("or") {
                break;
            }
            self.check_gap("`or`");
            self.pos += 1;
            self.check_gap("the operand of `or`");
        }
        if let (true, Some(offset)) = (operands.len() > 1, first_and) {
            self.warnings.push(lint::mixed_and_or(self.source, offset));
        }
        Ok(combine(operands, Expr::Or))
    }

    /// `unary *( ws1 AND ws1 unary )`; also returns the offset of the first `and` when
    /// there are several operands.
    fn and(&mut self, depth: usize) -> Result<(Option<Expr>, Option<usize>), Fatal> {
        let mut operands = Vec::new();
        let mut first_and = None;
        loop {
            operands.push(self.unary(depth)?);
            if !self.is_keyword("and") {
                break;
            }
            first_and = first_and.or(Some(self.offset()));
            self.check_gap("`and`");
            self.pos += 1;
            self.check_gap("the operand of `and`");
        }
        Ok((combine(operands, Expr::And), first_and))
    }

    /// `NOT ws "(" ws expr ws ")" / "(" ws expr ws ")" / comparison`
    fn unary(&mut self, depth: usize) -> Step<Expr> {
        let Some(token) = self.peek() else {
            let diagnostic = self.expected_operand();
            self.error(diagnostic);
            return Err(Fatal);
        };
        match token.kind {
            Kind::Open => self.group(depth),
            Kind::Close => {
                let diagnostic = self.expected_operand();
                self.error(diagnostic);
                Err(Fatal)
            }
            Kind::Word(word) if word.eq_ignore_ascii_case("not") => {
                if matches!(
                    self.tokens.get(self.pos + 1),
                    Some(Token {
                        kind: Kind::Open,
                        ..
                    })
                ) {
                    self.pos += 1;
                    Ok(self.group(depth)?.map(|e| Expr::Not(Box::new(e))))
                } else {
                    self.not_without_parentheses(depth)
                }
            }
            Kind::Word(word)
                if word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("or") =>
            {
                let diagnostic = self.expected_operand();
                self.error(diagnostic);
                Err(Fatal)
            }
            Kind::Word("*") => {
                let offset = token.span.start;
                self.error(
                    Diagnostic::error(self.source, offset, "`*` must be the whole criteria")
                        .with_expected_found("a comparison", "`*`")
                        .with_hint("`*` means no criteria; it cannot be combined with anything"),
                );
                self.pos += 1;
                Ok(None)
            }
            _ => self.comparison(),
        }
    }

    fn expected_operand(&self) -> Diagnostic {
        let expected = "a comparison, `(` or `not (`";
        Diagnostic::error(
            self.source,
            self.offset(),
            format!("expected {expected}, found {}", self.found()),
        )
        .with_expected_found(expected, self.found())
    }

    /// `not` followed by something other than `(`: an error; parsing goes on after it.
    fn not_without_parentheses(&mut self, depth: usize) -> Step<Expr> {
        let offset = self.offset();
        self.pos += 1;
        let found = self.found();
        self.error(
            Diagnostic::error(self.source, offset, "`not` needs parentheses")
                .with_expected_found("`(` after `not`", found)
                .with_hint("write `not (...)`, e.g. `not (/eventType eq \"CustomerDeleteEvent\")`"),
        );
        while self.is_keyword("not")
            && !matches!(
                self.tokens.get(self.pos + 1),
                Some(Token {
                    kind: Kind::Open,
                    ..
                })
            )
        {
            self.pos += 1;
        }
        if self.peek().is_some() {
            self.unary(depth)?;
        }
        Ok(None)
    }

    /// `"(" ws expr ws ")"`, at the `(`.
    fn group(&mut self, depth: usize) -> Step<Expr> {
        let open = self.tokens[self.pos].span.start;
        if depth >= MAX_DEPTH {
            self.error(
                Diagnostic::error(
                    self.source,
                    open,
                    format!("the criteria nest more than {MAX_DEPTH} levels deep"),
                )
                .with_hint("remove redundant parentheses, or split the rule"),
            );
            return Err(Fatal);
        }
        self.pos += 1;
        let expr = self.or(depth + 1)?;
        if matches!(
            self.peek(),
            Some(Token {
                kind: Kind::Close,
                ..
            })
        ) {
            self.pos += 1;
            return Ok(expr);
        }
        let opened = Diagnostic::error(self.source, open, "");
        let diagnostic = self.expected_and_or("`)`").with_hint(format!(
            "close the `(` opened at line {}, column {}",
            opened.line, opened.column
        ));
        self.error(diagnostic);
        Err(Fatal)
    }

    /// `attr ws1 "pr" / attr ws1 compare-op ws1 value`
    fn comparison(&mut self) -> Step<Expr> {
        let attr_token = self.tokens[self.pos].clone();
        self.pos += 1;
        let attr = self.attr(&attr_token);
        let test = attr.as_ref().and_then(|_| self.test(&attr_token));
        match (attr, test) {
            (Some(attr), Some(test)) => {
                if self.check_value(&attr, &test) {
                    Ok(Some(Expr::Comparison(Comparison { attr, test })))
                } else {
                    Ok(None)
                }
            }
            _ => {
                self.recover();
                Ok(None)
            }
        }
    }

    /// After an error in a comparison, skips to the next `and`, `or` or `)` outside
    /// parentheses opened since.
    fn recover(&mut self) {
        let mut depth = 0usize;
        while let Some(token) = self.peek() {
            match token.kind {
                Kind::Open => depth += 1,
                Kind::Close if depth == 0 => return,
                Kind::Close => depth -= 1,
                Kind::Word(w)
                    if depth == 0
                        && (w.eq_ignore_ascii_case("and") || w.eq_ignore_ascii_case("or")) =>
                {
                    return;
                }
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// `"ID" / "OP" / "MS" / pointer / quoted-pointer`
    fn attr(&mut self, token: &Token<'s>) -> Option<Attr> {
        let offset = token.span.start;
        let expected = "an attribute: a JSON Pointer such as /eventType, or ID, OP or MS";
        match &token.kind {
            Kind::Word("ID") => Some(Attr::Id),
            Kind::Word("OP") => Some(Attr::Op),
            Kind::Word("MS") => Some(Attr::Ms),
            Kind::Word(word) if word.starts_with('/') => {
                self.pointer(word, offset).map(Attr::Pointer)
            }
            Kind::Str(text) if text.starts_with('/') => {
                let pointer = self.pointer(text, offset + 1)?;
                if let Some(warning) = lint::spaces_in_segments(self.source, offset, &pointer) {
                    self.warnings.push(warning);
                }
                Some(Attr::Pointer(pointer))
            }
            Kind::Str(text) => {
                let found = token.describe(self.source);
                self.error(
                    Diagnostic::error(
                        self.source,
                        offset,
                        format!("{found} is not an attribute: a quoted attribute is a JSON Pointer, which starts with `/`"),
                    )
                    .with_expected_found(expected, found)
                    .with_hint(format!("write a pointer into the event, e.g. \"/{}\"", text.trim_start_matches('/'))),
                );
                None
            }
            Kind::Word(word) => {
                let hint = if ["ID", "OP", "MS"]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(word))
                {
                    format!(
                        "the keywords are upper case: write `{}`",
                        word.to_ascii_uppercase()
                    )
                } else if word.contains('.') {
                    format!(
                        "write a JSON Pointer into the event: `/{}`",
                        word.split('.').collect::<Vec<_>>().join("/")
                    )
                } else {
                    format!("write a JSON Pointer into the event, e.g. `/event/<resource>/{word}`")
                };
                let found = format!("`{word}`");
                self.error(
                    Diagnostic::error(self.source, offset, format!("{found} is not an attribute"))
                        .with_expected_found(expected, found)
                        .with_hint(hint),
                );
                None
            }
            Kind::Open | Kind::Close => None,
        }
    }

    /// Decodes a pointer whose text starts at byte `offset` of the source.
    fn pointer(&mut self, text: &str, offset: usize) -> Option<Pointer> {
        match Pointer::parse(text) {
            Ok(pointer) => Some(pointer),
            Err(at) => {
                let escape: String = text[at..].chars().take(2).collect();
                self.error(
                    Diagnostic::error(
                        self.source,
                        offset + at,
                        format!("invalid escape `{escape}` in a JSON Pointer"),
                    )
                    .with_expected_found("`~0` or `~1`", format!("`{escape}`"))
                    .with_hint("write `~0` for `~` and `~1` for `/` inside a segment"),
                );
                None
            }
        }
    }

    /// `ws1 "pr" / ws1 compare-op ws1 value`, after the attribute.
    fn test(&mut self, attr: &Token<'s>) -> Option<Test> {
        self.check_gap("the operator");
        let operator = self.peek_word().and_then(|word| {
            if word.eq_ignore_ascii_case("pr") {
                Some(None)
            } else {
                CompareOp::from_name(word).map(Some)
            }
        });
        let Some(operator) = operator else {
            let found = self.found();
            let hint = match self.peek_word() {
                Some("=" | "==") => "write `eq`".to_owned(),
                Some("!=" | "<>") => "write `ne`".to_owned(),
                Some(">") => "write `gt`".to_owned(),
                Some(">=") => "write `ge`".to_owned(),
                Some("<") => "write `lt`".to_owned(),
                Some("<=") => "write `le`".to_owned(),
                _ if matches!(attr.kind, Kind::Str(_)) && self.peek().is_none() => {
                    "a quoted attribute ends at its closing quote; quote only the pointer"
                        .to_owned()
                }
                _ => "the operators are eq, ne, co, sw, ew, gt, ge, lt, le and pr".to_owned(),
            };
            let expected = "an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr)";
            let offset = self.offset();
            self.error(
                Diagnostic::error(
                    self.source,
                    offset,
                    format!("expected an operator, found {found}"),
                )
                .with_expected_found(expected, found)
                .with_hint(hint),
            );
            return None;
        };
        self.pos += 1;
        let Some(op) = operator else {
            return Some(Test::Present);
        };
        self.check_gap("the value");
        self.value().map(|value| Test::Compare(op, value))
    }

    /// `JSON string / JSON number / "true" / "false" / "null"`
    fn value(&mut self) -> Option<Value> {
        let expected = "a value: a JSON string, a number, true, false or null";
        let value = match self.peek().map(|t| &t.kind) {
            Some(Kind::Str(text)) => Some(Value::String(Text::new(&**text))),
            Some(Kind::Word("true")) => Some(Value::Bool(true)),
            Some(Kind::Word("false")) => Some(Value::Bool(false)),
            Some(Kind::Word("null")) => Some(Value::Null),
            Some(Kind::Word(word)) => Number::parse(word).map(Value::Number),
            _ => None,
        };
        if value.is_some() {
            self.pos += 1;
            return value;
        }
        let offset = self.offset();
        let found = self.found();
        let hint = match self.peek_word() {
            Some(word)
                if ["true", "false", "null"]
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(word)) =>
            {
                format!(
                    "JSON literals are lower case: write `{}`",
                    word.to_ascii_lowercase()
                )
            }
            Some(word) if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') => format!(
                "`{word}` is not a JSON number; to compare with text, quote it: {}",
                quote(word)
            ),
            Some(word) => format!("quote it: {}", quote(word)),
            None => "every operator but `pr` takes a value".to_owned(),
        };
        let message = match self.peek_word() {
            Some(_) => format!("{found} is not a value"),
            None => format!("expected a value, found {found}"),
        };
        self.error(
            Diagnostic::error(self.source, offset, message)
                .with_expected_found(expected, found)
                .with_hint(hint),
        );
        None
    }

    /// Checks what a comparison's value may be: a string for `co`, `sw` and `ew`; no
    /// boolean or null for `gt`, `ge`, `lt` and `le`; an HTTP method for `OP`.
    fn check_value(&mut self, attr: &Attr, test: &Test) -> bool {
        let Test::Compare(op, value) = test else {
            return true;
        };
        let is_method = |value: &Value| matches!(value, Value::String(text) if HTTP_METHODS.contains(&text.as_str()));
        let string = matches!(value, Value::String(_));
        let bool_or_null = matches!(value, Value::Bool(_) | Value::Null);
        let valid = (string || !op.is_substring())
            && !(bool_or_null && op.is_ordering())
            && (*attr != Attr::Op || is_method(value));
        if valid {
            return true;
        }
        let value_token = &self.tokens[self.pos - 1];
        let offset = value_token.span.start;
        let found = value_token.describe(self.source);
        let error = if op.is_substring() && !matches!(value, Value::String(_)) {
            let hint = match value {
                Value::Number(n) => format!("quote it to match text: {}", quote(n.as_str())),
                _ => "compare with a string, e.g. \"abc\"".to_owned(),
            };
            Some(
                Diagnostic::error(
                    self.source,
                    offset,
                    format!("`{}` needs a string value, found {found}", op.as_str()),
                )
                .with_expected_found("a JSON string", found.clone())
                .with_hint(hint),
            )
        } else if op.is_ordering() && matches!(value, Value::Bool(_) | Value::Null) {
            Some(
                Diagnostic::error(
                    self.source,
                    offset,
                    format!("`{}` cannot compare with {found}: booleans and null support only `eq` and `ne`", op.as_str()),
                )
                .with_expected_found("a string or a number", found.clone())
                .with_hint("use `eq` or `ne`"),
            )
        } else {
            None
        };
        let error = error.or_else(|| {
            let Attr::Op = attr else { return None };
            let method = match value {
                Value::String(text) => text.as_str(),
                _ => "",
            };
            if HTTP_METHODS.contains(&method) {
                return None;
            }
            let hint = if HTTP_METHODS.contains(&method.to_ascii_uppercase().as_str()) {
                format!(
                    "HTTP methods are upper case: write \"{}\"",
                    method.to_ascii_uppercase()
                )
            } else {
                format!("write one of \"{}\"", HTTP_METHODS.join("\", \""))
            };
            Some(
                Diagnostic::error(
                    self.source,
                    offset,
                    format!("`OP` is compared with an HTTP method, found {found}"),
                )
                .with_expected_found(
                    format!("an HTTP method: {}", HTTP_METHODS.join(", ")),
                    found.clone(),
                )
                .with_hint(hint),
            )
        });
        match error {
            Some(error) => {
                self.error(error);
                false
            }
            None => true,
        }
    }
}

/// One operand as it is; several joined by `and` or `or`; `None` if any is `None`.
fn combine(operands: Vec<Option<Expr>>, join: fn(Vec<Expr>) -> Expr) -> Option<Expr> {
    let mut operands: Vec<Expr> = operands.into_iter().collect::<Option<_>>()?;
    if operands.len() == 1 {
        operands.pop()
    } else {
        Some(join(operands))
    }
}

/// `text` as a JSON string.
fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// `text`, cut to a length that fits in a message.
fn truncate(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() > MAX {
        format!("{}...", text.chars().take(MAX).collect::<String>())
    } else {
        text.to_owned()
    }
}
