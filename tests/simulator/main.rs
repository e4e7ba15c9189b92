//! The simulator as a process: each test starts `cxf-operator simulator` on a free port
//! and replays the seeds' flows against it.

mod auth;
mod events;
mod faults;
mod gatekeeping_rules;
mod hub;
mod listener_registrations;
mod persistence;
#[path = "../support/simulator.rs"]
mod process;
mod support;
