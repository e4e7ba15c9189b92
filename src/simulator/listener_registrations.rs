//! `/admin[/{ws}]/listenerRegistrations`: create, list (with filters), read, replace,
//! JSON Patch (RFC 6902) and delete. Credentials are write-only: answers mask them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::api_error::{ApiError, parse_body, parse_value};
use super::sim::{Sim, Target};
use super::state::MASK;
use crate::criteria;
use crate::framework::model::{ListenerAuth, ListenerRegistration, ListenerType};

/// The registration as the API answers it: `client-secret` and `password` masked.
pub fn masked(registration: &ListenerRegistration) -> Value {
    let mut value = serde_json::to_value(registration).expect("a registration serializes");
    mask(&mut value);
    value
}

fn mask(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if key == "client-secret" || key == "password" {
                    *field = Value::String(MASK.into());
                } else {
                    mask(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

/// Checks a criteria text as a listener `query` (at `field`): it must parse, and a
/// TMF630 `key=value` query earns a hint.
pub fn check_query(field: &str, query: &str) -> Result<(), ApiError> {
    if query.trim().is_empty() {
        return Ok(());
    }
    criteria::parse(query).map(drop).map_err(|errors| {
        let mut message = format!("{field}: invalid criteria: {errors}");
        if let Some(hint) = key_value_hint(query) {
            message.push_str("; ");
            message.push_str(&hint);
        }
        ApiError::bad_request(message)
    })
}

/// A hint for a TMF630-style `eventType=X` query.
fn key_value_hint(query: &str) -> Option<String> {
    let first = query.trim().split('&').next()?;
    let (key, value) = first.split_once('=')?;
    let key = key.trim();
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    (plain(key) && !value.contains(' ')).then(|| {
        format!(
            "hint: the query takes the Gatekeeper Criteria language, not TMF630's key=value form; write /{} eq \"{}\"",
            key.replace('.', "/"),
            value.trim_matches('"')
        )
    })
}

/// Checks what the wire types cannot: at least one API, non-empty names, URLs that
/// parse, criteria that parse, complete credentials.
pub fn validate(registration: &ListenerRegistration) -> Result<(), ApiError> {
    if registration.affiliated_apis.is_empty() {
        return Err(ApiError::bad_request(
            "affiliated-apis: at least one API is required",
        ));
    }
    for (i, api) in registration.affiliated_apis.iter().enumerate() {
        if api.api_name.trim().is_empty() {
            return Err(ApiError::bad_request(format!(
                "affiliated-apis[{i}].api-name: is required"
            )));
        }
        if api.api_version.trim().is_empty() {
            return Err(ApiError::bad_request(format!(
                "affiliated-apis[{i}].api-version: is required"
            )));
        }
        if let Some(query) = &api.query {
            check_query(&format!("affiliated-apis[{i}].query"), query)?;
        }
    }
    let listener = &registration.listener_locality.external_listener;
    check_url(
        "listener-locality.external-listener.listener-url",
        &listener.listener_url,
    )?;
    let auth = "listener-locality.external-listener.listener-auth";
    match &listener.listener_auth {
        Some(ListenerAuth::OidcClientCredentials(oidc)) => {
            check_url(
                &format!("{auth}.oidc-client-credentials.identity-uri"),
                &oidc.identity_uri,
            )?;
            if oidc.client_id.trim().is_empty() {
                return Err(ApiError::bad_request(format!(
                    "{auth}.oidc-client-credentials.client-id: is required"
                )));
            }
            if oidc.expose_secret().is_empty() {
                return Err(ApiError::bad_request(format!(
                    "{auth}.oidc-client-credentials.client-secret: is required"
                )));
            }
        }
        Some(ListenerAuth::Basic(basic)) if basic.username.trim().is_empty() => {
            return Err(ApiError::bad_request(format!(
                "{auth}.basic.username: is required"
            )));
        }
        _ => {}
    }
    Ok(())
}

/// An absolute `http`/`https` URL.
pub fn check_url(field: &str, text: &str) -> Result<(), ApiError> {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(()),
        Ok(url) => Err(ApiError::bad_request(format!(
            "{field}: '{text}' has scheme '{}'; use http or https",
            url.scheme()
        ))),
        Err(err) => Err(ApiError::bad_request(format!(
            "{field}: '{text}' is not an absolute URL ({err})"
        ))),
    }
}

fn created(registration: &ListenerRegistration) -> Response {
    (StatusCode::CREATED, Json(masked(registration))).into_response()
}

/// `POST /admin[/{ws}]/listenerRegistrations`: 201 with the registration and its id.
pub async fn create(
    State(sim): State<Arc<Sim>>,
    target: Target,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut registration: ListenerRegistration = parse_body(&body)?;
    if registration.id.is_some() {
        return Err(ApiError::bad_request(
            "id: is assigned by the framework; leave it out of a new registration",
        ));
    }
    validate(&registration)?;
    let id = {
        let mut store = sim.store.lock().expect("store lock");
        let id = store.new_listener_id(&target.workspace);
        registration.id = Some(id.clone());
        store
            .workspace(&target.workspace)
            .listener_registrations
            .insert(id.clone(), registration.clone());
        id
    };
    sim.persist().await?;
    tracing::info!(workspace = %target.workspace, %id, "listener registration created");
    Ok(created(&registration))
}

/// `GET /admin[/{ws}]/listenerRegistrations`, filtered by `api-id` (an affiliated
/// API's `api-number`), `api-name`, `api-version`, `listener-url` and `type`.
pub async fn list(
    State(sim): State<Arc<Sim>>,
    target: Target,
    Query(filters): Query<HashMap<String, String>>,
) -> Json<Vec<Value>> {
    let mut store = sim.store.lock().expect("store lock");
    let workspace = store.workspace(&target.workspace);
    let wanted = |key: &str, actual: Option<&str>| {
        filters
            .get(key)
            .is_none_or(|want| actual == Some(want.as_str()))
    };
    let found = workspace
        .listener_registrations
        .values()
        .filter(|reg| {
            let apis = &reg.affiliated_apis;
            wanted(
                "listener-url",
                Some(&reg.listener_locality.external_listener.listener_url),
            ) && wanted(
                "type",
                Some(match reg.listener_type {
                    ListenerType::External => "external",
                    ListenerType::Internal => "internal",
                }),
            ) && ["api-id", "api-name", "api-version"].iter().all(|key| {
                !filters.contains_key(*key)
                    || apis.iter().any(|api| match *key {
                        "api-id" => wanted(key, api.api_number.as_deref()),
                        "api-name" => wanted(key, Some(&api.api_name)),
                        _ => wanted(key, Some(&api.api_version)),
                    })
            })
        })
        .map(masked)
        .collect();
    Json(found)
}

fn find(sim: &Sim, target: &Target) -> Result<(String, ListenerRegistration), ApiError> {
    let id = target.id();
    let mut store = sim.store.lock().expect("store lock");
    store
        .workspace(&target.workspace)
        .listener_registrations
        .get(id)
        .cloned()
        .map(|reg| (id.to_owned(), reg))
        .ok_or_else(|| ApiError::not_found("listener registration", id))
}

/// `GET /admin[/{ws}]/listenerRegistrations/{id}`
pub async fn get_one(State(sim): State<Arc<Sim>>, target: Target) -> Result<Json<Value>, ApiError> {
    find(&sim, &target).map(|(_, reg)| Json(masked(&reg)))
}

/// Stores `registration` as `id` if it still exists, then persists.
async fn store_update(
    sim: &Sim,
    target: &Target,
    id: String,
    mut registration: ListenerRegistration,
) -> Result<Json<Value>, ApiError> {
    validate(&registration)?;
    registration.id = Some(id.clone());
    {
        let mut store = sim.store.lock().expect("store lock");
        let registrations = &mut store.workspace(&target.workspace).listener_registrations;
        let slot = registrations
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found("listener registration", &id))?;
        *slot = registration.clone();
    }
    sim.persist().await?;
    tracing::info!(workspace = %target.workspace, %id, "listener registration updated");
    Ok(Json(masked(&registration)))
}

/// `PUT /admin[/{ws}]/listenerRegistrations/{id}`: full replace, 200.
pub async fn replace(
    State(sim): State<Arc<Sim>>,
    target: Target,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (id, _) = find(&sim, &target)?;
    let registration: ListenerRegistration = parse_body(&body)?;
    if let Some(body_id) = &registration.id
        && *body_id != id
    {
        return Err(ApiError::bad_request(format!(
            "id: the body is for '{body_id}' but the URL names '{id}'"
        )));
    }
    store_update(&sim, &target, id, registration).await
}

/// `PATCH` (or `POST`, as seed 000 sends it) `/admin[/{ws}]/listenerRegistrations/{id}`
/// with an RFC 6902 JSON Patch array. Paths are JSON Pointers into the registration;
/// the seed's spelling `listenerRegistrations/listener-locality/...` is read as
/// `/listener-locality/...`. A failed `test` operation answers 409.
pub async fn patch(
    State(sim): State<Arc<Sim>>,
    target: Target,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (id, current) = find(&sim, &target)?;
    let mut operations: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("the request body is not JSON: {err}")))?;
    let Value::Array(ops) = &mut operations else {
        return Err(ApiError::bad_request(
            "the body must be a JSON Patch array of operations ([{\"op\": ..., \"path\": ...}])",
        ));
    };
    for op in ops.iter_mut().filter_map(Value::as_object_mut) {
        for key in ["path", "from"] {
            if let Some(Value::String(path)) = op.get_mut(key) {
                *path = pointer_path(path);
            }
        }
    }
    let operations: json_patch::Patch = parse_value(operations)?;
    let mut document = serde_json::to_value(&current).expect("a registration serializes");
    // Operations apply to this copy, one by one; an error discards the copy, so the
    // patch is all or nothing.
    for (index, operation) in operations.0.into_iter().enumerate() {
        let operation = replace_missing_as_add(&document, operation);
        json_patch::patch(&mut document, std::slice::from_ref(&operation)).map_err(|err| {
            let message = format!("patch operation {index} at '{}': {}", err.path, err.kind);
            match err.kind {
                json_patch::PatchErrorKind::TestFailed => ApiError::conflict(message),
                _ => ApiError::bad_request(message),
            }
        })?;
    }
    if document.get("id") != Some(&Value::String(id.clone())) {
        return Err(ApiError::bad_request("id: is read-only"));
    }
    let registration: ListenerRegistration = parse_value(document)?;
    store_update(&sim, &target, id, registration).await
}

/// A `replace` of a member that does not exist yet is read as an `add`: seed 000
/// replaces `listener-auth` on a hub subscription, which has none.
fn replace_missing_as_add(
    document: &Value,
    operation: json_patch::PatchOperation,
) -> json_patch::PatchOperation {
    match operation {
        json_patch::PatchOperation::Replace(replace)
            if document.pointer(replace.path.as_str()).is_none() =>
        {
            json_patch::PatchOperation::Add(json_patch::AddOperation {
                path: replace.path,
                value: replace.value,
            })
        }
        other => other,
    }
}

/// The seed's `listenerRegistrations/a/b` (and `/listenerRegistrations/a/b`) as the
/// JSON Pointer `/a/b`; a pointer is kept as it is.
fn pointer_path(path: &str) -> String {
    let trimmed = path.trim_start_matches('/');
    let relative = trimmed
        .strip_prefix("listenerRegistrations")
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        .map(|rest| rest.trim_start_matches('/'));
    match relative {
        Some(rest) => format!("/{rest}"),
        None if path.starts_with('/') || path.is_empty() => path.to_owned(),
        None => format!("/{path}"),
    }
}

/// `DELETE /admin[/{ws}]/listenerRegistrations/{id}`: 204, 404 if unknown.
pub async fn delete(State(sim): State<Arc<Sim>>, target: Target) -> Result<StatusCode, ApiError> {
    let id = target.id().to_owned();
    {
        let mut store = sim.store.lock().expect("store lock");
        store
            .workspace(&target.workspace)
            .listener_registrations
            .remove(&id)
            .ok_or_else(|| ApiError::not_found("listener registration", &id))?;
    }
    sim.persist().await?;
    tracing::info!(workspace = %target.workspace, %id, "listener registration deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_paths_become_pointers() {
        assert_eq!(
            pointer_path("listenerRegistrations/listener-locality/external-listener/listener-auth"),
            "/listener-locality/external-listener/listener-auth"
        );
        assert_eq!(pointer_path("/listenerRegistrations/type"), "/type");
        assert_eq!(pointer_path("/type"), "/type");
        assert_eq!(pointer_path("type"), "/type");
        assert_eq!(pointer_path(""), "");
    }

    #[test]
    fn credentials_are_masked() {
        let mut value = serde_json::json!({"a": {"client-secret": "x", "b": [{"password": "y"}]}});
        mask(&mut value);
        assert_eq!(value["a"]["client-secret"], MASK);
        assert_eq!(value["a"]["b"][0]["password"], MASK);
    }

    #[test]
    fn key_value_queries_get_a_hint() {
        assert_eq!(
            key_value_hint("eventType=CustomerCreateEvent").unwrap(),
            "hint: the query takes the Gatekeeper Criteria language, not TMF630's key=value form; write /eventType eq \"CustomerCreateEvent\""
        );
        assert_eq!(key_value_hint("/eventType eq \"a=b c\""), None);
    }
}
