//! Lint findings: criteria that are valid but probably not what was meant.

use super::ast::Pointer;
use super::diagnostic::Diagnostic;
use super::lex::is_space;

/// `A or B and C` without parentheses, warned at the `and` (at byte `and_offset`).
pub(crate) fn mixed_and_or(source: &str, and_offset: usize) -> Diagnostic {
    Diagnostic::warning(
        source,
        and_offset,
        "`and` binds tighter than `or`, so `A or B and C` reads as `A or (B and C)`",
    )
    .with_hint("add parentheses to say which grouping you mean")
}

/// A quoted pointer (at byte `offset`) with a segment that starts or ends with
/// whitespace: most likely a line wrap that leaked into the text.
pub(crate) fn spaces_in_segments(
    source: &str,
    offset: usize,
    pointer: &Pointer,
) -> Option<Diagnostic> {
    let segment = pointer
        .segments()
        .iter()
        .find(|s| s.key().starts_with(is_space) || s.key().ends_with(is_space))?;
    let trimmed: Vec<String> = pointer
        .segments()
        .iter()
        .map(|s| {
            s.key()
                .trim_matches(is_space)
                .replace('~', "~0")
                .replace('/', "~1")
        })
        .collect();
    Some(
        Diagnostic::warning(
            source,
            offset,
            format!(
                "the pointer segment {:?} starts or ends with whitespace",
                segment.key()
            ),
        )
        .with_hint(format!(
            "a line wrap may have leaked into the text; did you mean \"/{}\"?",
            trimmed.join("/")
        )),
    )
}
