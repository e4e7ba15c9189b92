//! The operator against a real control plane (tests/support) and the simulator as a
//! process; the controllers run in-process, watching the test's namespace only.

#[path = "../support/mod.rs"]
mod support;

mod env;
mod gatekeeping_rules;
mod guarantees;
mod listener_registrations;
mod run;
mod scale;
