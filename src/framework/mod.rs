//! The framework's admin API, as seen from outside: its wire model, the rules it
//! enforces on gatekeeping rule updates, and how it routes an event, shared by the
//! operator, the CLI and the simulator.

pub mod model;
pub mod routing;
pub mod rule_checks;
