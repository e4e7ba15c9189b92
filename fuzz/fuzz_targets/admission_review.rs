//! Fuzzes the webhook's AdmissionReview decoding and verdict: no body may panic, hang or
//! overflow the stack; a body that decodes gets an answer for its own request `uid`,
//! and the Secrets it would have checked are among those its object references.
//!
//! `unsafe_code` is not forbidden here only because `fuzz_target!` expands to the
//! `#[unsafe(no_mangle)]` entry point libFuzzer calls.
#![no_main]

use cxf_operator::validation::{self, Decoded, Known};
use cxf_operator::webhook::admission::{self, SecretAccess};
use cxf_operator::webhook::secret_access;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = admission::decode_review(data) else {
        return;
    };
    let Some(object) = &request.object else {
        return;
    };
    let Ok(value) = serde_json::to_value(object) else {
        return;
    };
    let old = request
        .old_object
        .as_ref()
        .and_then(|o| serde_json::to_value(o).ok());
    if let Decoded::Resource(resource) = validation::decode(&value) {
        let checked = secret_access::secrets_to_check(&request, &resource, &value, old.as_ref());
        let referenced = match &resource {
            validation::Resource::FrameworkConnection(c) => c.secret_refs(),
            validation::Resource::ListenerRegistration(l) => l.secret_refs(),
            validation::Resource::GatekeepingRule(_) => Vec::new(),
        };
        assert!(checked.iter().all(|name| referenced.iter().any(|r| &r.name == name)));
    }
    let response = admission::respond(&request, &value, &Known::default());
    assert_eq!(response.uid, request.uid);
    let denied = SecretAccess::Denied(["s".to_owned()].into());
    let refused = admission::refuse_unreadable(response, &request, &denied);
    assert!(!refused.allowed);
    serde_json::to_vec(&refused.into_review()).expect("the answer serializes");
});
