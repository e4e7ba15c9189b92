//! The framework's admin API, as seen from outside: its wire model and the rules it
//! enforces on gatekeeping rule updates, shared by the operator and the simulator.

pub mod model;
pub mod rule_checks;
