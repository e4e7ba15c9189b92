//! Fault injection: errors (500/503), throttling (429 with `Retry-After`), added
//! latency, and "commit then drop the response" (the change is made but the client's
//! connection is closed with no answer). Rules come from `--faults` or `POST
//! /sim/faults`; the random draws come from a generator seeded by `--seed`.
//!
//! Specification syntax (`--faults`): rules separated by `;`, each a comma-separated
//! list of `key=value`: `kind=error,status=503,route=listenerRegistrations,method=POST,
//! rate=0.5,times=2`. `POST /sim/faults` takes the same rules as a JSON array of
//! objects.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::api_error::ApiError;
use super::state::GATEWAY;

/// The simulated route a request addresses, the unit fault rules select.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/admin[/{ws}]/listenerRegistrations[/{id}]`
    ListenerRegistrations,
    /// `/admin[/{ws}]/gatekeepingRules[/{id}]`
    GatekeepingRules,
    /// `/api/{ws}/{apiName}/{apiVersion}/hub[/{id}]`
    Hub,
    /// `/oauth2/token`
    Token,
}

impl Route {
    /// The name used in fault rules.
    pub fn name(self) -> &'static str {
        match self {
            Route::ListenerRegistrations => "listenerRegistrations",
            Route::GatekeepingRules => "gatekeepingRules",
            Route::Hub => "hub",
            Route::Token => "token",
        }
    }
}

/// The route and workspace of a request path (`None` outside the simulated API).
pub fn classify(path: &str) -> Option<(Route, String)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["oauth2", "token"] => Some((Route::Token, GATEWAY.to_owned())),
        ["admin", rest @ ..] => {
            let (workspace, rest) = match rest {
                [first, rest @ ..]
                    if *first != "listenerRegistrations" && *first != "gatekeepingRules" =>
                {
                    (*first, rest)
                }
                _ => (GATEWAY, rest),
            };
            let route = match rest.first() {
                Some(&"listenerRegistrations") => Route::ListenerRegistrations,
                Some(&"gatekeepingRules") => Route::GatekeepingRules,
                _ => return None,
            };
            Some((route, workspace.to_owned()))
        }
        ["api", workspace, _, _, "hub", ..] => Some((Route::Hub, (*workspace).to_owned())),
        _ => None,
    }
}

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Answer `status` (500 or 503) without doing anything.
    Error,
    /// Answer 429 with `Retry-After: retry-after` without doing anything.
    Throttle,
    /// Wait `ms` milliseconds, then go on.
    Latency,
    /// Do the request, then close the connection without answering.
    Drop,
}

/// One fault rule: which requests, how often, and what happens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FaultRule {
    /// What the fault does.
    pub kind: FaultKind,
    /// Route name (`listenerRegistrations`, `gatekeepingRules`, `hub`, `token`) or `*`.
    #[serde(default = "any_route")]
    pub route: String,
    /// HTTP method, or any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Probability that a matching request is hit, 0 to 1 (default 1).
    #[serde(default = "always")]
    pub rate: f64,
    /// Hit at most this many requests, then stop (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// `error`: the status, 500 (default) or 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `throttle`: the `Retry-After` seconds (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// `latency`: the added delay in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}

fn any_route() -> String {
    "*".into()
}

fn always() -> f64 {
    1.0
}

impl FaultRule {
    /// Refuses a rule whose fields do not fit its kind.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(format!("rate must be between 0 and 1, found {}", self.rate));
        }
        let routes = [
            "*",
            "listenerRegistrations",
            "gatekeepingRules",
            "hub",
            "token",
        ];
        if !routes.contains(&self.route.as_str()) {
            return Err(format!(
                "route '{}' is not one of {}",
                self.route,
                routes.join(", ")
            ));
        }
        match self.kind {
            FaultKind::Error if !matches!(self.status, None | Some(500) | Some(503)) => {
                Err("an error fault's status is 500 or 503".into())
            }
            FaultKind::Latency if self.ms.is_none() => {
                Err("a latency fault needs ms=<milliseconds>".into())
            }
            _ => Ok(()),
        }
    }

    fn selects(&self, route: Route, method: &str) -> bool {
        (self.route == "*" || self.route == route.name())
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.times != Some(0)
    }
}

/// Parses the `--faults` syntax (see the module documentation).
pub fn parse_spec(spec: &str) -> Result<Vec<FaultRule>, String> {
    spec.split(';')
        .map(str::trim)
        .filter(|rule| !rule.is_empty())
        .map(|rule| {
            let mut object = serde_json::Map::new();
            for pair in rule.split(',') {
                let (key, value) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("'{pair}' in '{rule}' is not key=value"))?;
                let value = value.trim();
                let value = serde_json::from_str::<serde_json::Number>(value)
                    .map(serde_json::Value::Number)
                    .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
                object.insert(key.trim().to_owned(), value);
            }
            let parsed: FaultRule = serde_json::from_value(serde_json::Value::Object(object))
                .map_err(|err| format!("'{rule}': {err}"))?;
            parsed.check().map_err(|err| format!("'{rule}': {err}"))?;
            Ok(parsed)
        })
        .collect()
}

/// The active fault rules and their random generator.
#[derive(Debug)]
pub struct Faults {
    inner: Mutex<(Vec<FaultRule>, StdRng)>,
}

/// Marks a response whose connection must be closed without sending it.
#[derive(Clone, Copy, Debug)]
pub struct DropResponse;

enum Decision {
    Pass { latency: Duration, drop: bool },
    Answer(ApiError),
}

impl Faults {
    /// Starts with `rules`, drawing from `rng`.
    pub fn new(rules: Vec<FaultRule>, rng: StdRng) -> Self {
        Self {
            inner: Mutex::new((rules, rng)),
        }
    }

    /// The active rules.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.inner.lock().expect("faults lock").0.clone()
    }

    /// Replaces the active rules.
    pub fn set(&self, rules: Vec<FaultRule>) {
        self.inner.lock().expect("faults lock").0 = rules;
    }

    fn decide(&self, route: Route, method: &str) -> Decision {
        let mut guard = self.inner.lock().expect("faults lock");
        let (rules, rng) = &mut *guard;
        let mut latency = Duration::ZERO;
        let mut drop = false;
        for rule in rules.iter_mut() {
            if !rule.selects(route, method) || rng.random::<f64>() >= rule.rate {
                continue;
            }
            if let Some(times) = rule.times.as_mut() {
                *times -= 1;
            }
            match rule.kind {
                FaultKind::Latency => latency += Duration::from_millis(rule.ms.unwrap_or(0)),
                FaultKind::Drop => drop = true,
                FaultKind::Throttle => {
                    return Decision::Answer(ApiError::too_many_requests(
                        rule.retry_after.unwrap_or(1),
                    ));
                }
                FaultKind::Error => {
                    let status = match rule.status {
                        Some(503) => StatusCode::SERVICE_UNAVAILABLE,
                        _ => StatusCode::INTERNAL_SERVER_ERROR,
                    };
                    return Decision::Answer(ApiError::new(status, "injected fault"));
                }
            }
        }
        Decision::Pass { latency, drop }
    }
}

/// Middleware on the simulated API: applies the fault rules to each request.
pub async fn inject(State(faults): State<Arc<Faults>>, request: Request, next: Next) -> Response {
    let Some((route, _)) = classify(request.uri().path()) else {
        return next.run(request).await;
    };
    match faults.decide(route, request.method().as_str()) {
        Decision::Answer(err) => err.into_response(),
        Decision::Pass { latency, drop } => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let mut response = next.run(request).await;
            if drop {
                response.extensions_mut().insert(DropResponse);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn paths_are_classified_with_their_workspace() {
        let c = |p| classify(p).map(|(r, ws)| (r.name(), ws));
        assert_eq!(
            c("/admin/01/listenerRegistrations/x"),
            Some(("listenerRegistrations", "01".into()))
        );
        assert_eq!(
            c("/admin/gatekeepingRules/"),
            Some(("gatekeepingRules", String::new()))
        );
        assert_eq!(c("/api/02/Party/v4/hub/abc"), Some(("hub", "02".into())));
        assert_eq!(c("/oauth2/token"), Some(("token", String::new())));
        assert_eq!(c("/admin/01/systemDescriptors"), None);
        assert_eq!(c("/sim/state"), None);
    }

    #[test]
    fn the_spec_syntax_reads_every_kind() {
        let rules = parse_spec(
            "kind=error,status=503,route=listenerRegistrations,method=POST,rate=0.5; kind=throttle,retry-after=7;kind=latency,ms=20,times=1;kind=drop,route=hub",
        )
        .unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[0].status, Some(503));
        assert_eq!(rules[0].rate, 0.5);
        assert_eq!(rules[1].retry_after, Some(7));
        assert_eq!(rules[2].times, Some(1));
        assert_eq!(rules[3].kind, FaultKind::Drop);
        assert!(
            parse_spec("kind=error,status=404")
                .unwrap_err()
                .contains("500 or 503")
        );
        assert!(parse_spec("kind=latency").unwrap_err().contains("ms="));
        assert!(parse_spec("kind=boom").is_err());
        assert!(
            parse_spec("kind=drop,route=nowhere")
                .unwrap_err()
                .contains("route")
        );
    }

    #[test]
    fn draws_repeat_with_the_seed_and_times_runs_out() {
        let rules = parse_spec("kind=error,rate=0.5").unwrap();
        let outcomes = |seed| {
            let faults = Faults::new(rules.clone(), StdRng::seed_from_u64(seed));
            (0..32)
                .map(|_| matches!(faults.decide(Route::Hub, "POST"), Decision::Answer(_)))
                .collect::<Vec<_>>()
        };
        assert_eq!(outcomes(3), outcomes(3));
        assert!(outcomes(3).contains(&true) && outcomes(3).contains(&false));
        let once = Faults::new(
            parse_spec("kind=throttle,times=1").unwrap(),
            StdRng::seed_from_u64(0),
        );
        assert!(matches!(
            once.decide(Route::Token, "POST"),
            Decision::Answer(_)
        ));
        assert!(matches!(
            once.decide(Route::Token, "POST"),
            Decision::Pass { .. }
        ));
    }
}
