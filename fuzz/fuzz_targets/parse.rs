//! Fuzzes the criteria parser: no input may panic or overflow the stack; every error is
//! located inside the input; a valid input's canonical form parses back to the same tree
//! and evaluates the same.
//!
//! `unsafe_code` is not forbidden here only because `fuzz_target!` expands to the
//! `#[unsafe(no_mangle)]` entry point libFuzzer calls.
#![no_main]

use cxf_operator::criteria::{self, Event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    match criteria::parse(source) {
        Ok(parsed) => {
            let printed = parsed.to_string();
            let reparsed = criteria::parse(&printed)
                .unwrap_or_else(|e| panic!("canonical form {printed:?} does not parse: {e}"));
            assert_eq!(
                reparsed.expr(),
                parsed.expr(),
                "{source:?} printed as {printed:?}"
            );
            let envelope = serde_json::json!({
                "eventType": "CustomerCreateEvent",
                "event": {"customer": {"id": "20000", "tags": ["a", 1, null, {"b": [2]}]}},
                "a": [{"b": 1}, {"b": "2024-01-01T00:00:00Z"}],
            });
            let ids = ["NEW-1".to_owned()];
            let event = Event {
                envelope: &envelope,
                ids: &ids,
                op: Some("GET"),
                ms: Some("x"),
            };
            assert_eq!(parsed.evaluate(&event), reparsed.evaluate(&event));
        }
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for error in &errors.0 {
                assert!(error.offset <= source.len());
                assert!(source.is_char_boundary(error.offset));
                let _ = error.render(source);
            }
        }
    }
});
