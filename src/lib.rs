//! cxf-operator: the CX Industries Framework's listener registrations and gatekeeping
//! rules as Kubernetes resources.
//!
//! The pure core ([`criteria`], the desired-vs-observed diff) knows nothing of HTTP or
//! Kubernetes; the controllers, the admin API client, the webhook and the simulator sit
//! at the edges and call into it.
#![forbid(unsafe_code)]

pub mod admin;
pub mod controller;
pub mod criteria;
pub mod desired;
pub mod framework;
pub mod metrics;
pub mod reconcile;
pub mod resources;
pub mod simulator;
pub mod telemetry;
pub mod validation;
pub mod webhook;
