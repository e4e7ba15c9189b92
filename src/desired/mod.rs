//! The pure core of reconciliation: from a resource's spec (and the values read from its
//! Secrets) to the framework object it stands for, and from the observed framework object
//! to the minimal write that makes it match. No I/O here.

pub mod credentials;
pub mod gatekeeping_rule;
pub mod listener_registration;
