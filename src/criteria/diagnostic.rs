//! Diagnostics: what went wrong (or looks suspicious), where, and how to fix it.

use std::fmt;

use serde::Serialize;

/// How serious a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The criteria are invalid.
    Error,
    /// The criteria are valid, but probably not what was meant.
    Warning,
}

/// A finding about a criteria text, located by byte offset and by line and column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Byte offset of the finding in the source text.
    pub offset: usize,
    /// 1-based line of the finding.
    pub line: usize,
    /// 1-based column of the finding, counted in characters.
    pub column: usize,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it, when there is a likely fix.
    pub hint: Option<String>,
    /// What the parser expected at this point, when it expected something.
    pub expected: Option<String>,
    /// What the parser found instead.
    pub found: Option<String>,
    /// Whether this is an error or a warning.
    #[serde(skip)]
    pub severity: Severity,
}

impl Diagnostic {
    /// An error at byte `offset` of `source`.
    pub(crate) fn error(source: &str, offset: usize, message: impl Into<String>) -> Self {
        Self::new(source, offset, message.into(), Severity::Error)
    }

    /// A warning at byte `offset` of `source`.
    pub(crate) fn warning(source: &str, offset: usize, message: impl Into<String>) -> Self {
        Self::new(source, offset, message.into(), Severity::Warning)
    }

    fn new(source: &str, offset: usize, message: String, severity: Severity) -> Self {
        let offset = floor_char_boundary(source, offset.min(source.len()));
        let before = &source[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self {
            offset,
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            message,
            hint: None,
            expected: None,
            found: None,
            severity,
        }
    }

    /// Adds a hint.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Records what was expected and what was found.
    pub(crate) fn with_expected_found(
        mut self,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        self.expected = Some(expected.into());
        self.found = Some(found.into());
        self
    }

    /// Renders the diagnostic the way rustc does: the message, the source line, a caret
    /// under the column, and the hint.
    ///
    /// ```text
    /// error: expected an operator, found `equals`
    ///  --> line 1, column 4
    ///   |
    /// 1 | /a equals 1
    ///   |    ^
    ///   = hint: write one of eq, ne, co, sw, ew, gt, ge, lt, le, pr
    /// ```
    pub fn render(&self, source: &str) -> String {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let text = source.lines().nth(self.line - 1).unwrap_or("");
        let text = text.strip_suffix('\r').unwrap_or(text);
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        let indent: String = text
            .chars()
            .take(self.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let mut out = format!(
            "{kind}: {message}\n{gutter}--> line {line}, column {column}\n{gutter} |\n{number} | {text}\n{gutter} | {indent}^",
            message = self.message,
            line = self.line,
            column = self.column,
        );
        if let Some(hint) = &self.hint {
            out.push_str(&format!("\n{gutter} = hint: {hint}"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

/// The errors that made a criteria text invalid, in source order; never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Errors(pub Vec<Diagnostic>);

impl Errors {
    /// Renders every error with [`Diagnostic::render`], separated by blank lines.
    pub fn render(&self, source: &str) -> String {
        self.0
            .iter()
            .map(|d| d.render(source))
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

/// The largest char boundary at or before `offset`.
fn floor_char_boundary(source: &str, mut offset: usize) -> usize {
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}
