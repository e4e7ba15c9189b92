//! The framework's admin API, as seen from outside: its wire model, shared by the
//! operator's client and the simulator.

pub mod model;
