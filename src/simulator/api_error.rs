//! Error answers of the simulated admin API, as TMF `Error` bodies.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::framework::model::TmfError;

/// An error answer: a status and a message a person can act on. The message never
/// holds a credential.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    allow: Option<&'static str>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An answer with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            allow: None,
            retry_after: None,
        }
    }

    /// 400: the request body or query is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: no such object.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no {what} with id '{id}'"))
    }

    /// 409: the change conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 405 with the `Allow` header.
    pub fn method_not_allowed(message: impl Into<String>, allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(StatusCode::METHOD_NOT_ALLOWED, message)
        }
    }

    /// 429 with `Retry-After` in seconds.
    pub fn too_many_requests(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("rate limit exceeded; retry after {retry_after} s"),
            )
        }
    }

    /// 500: the simulator could not do its part (for example persisting its state).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message of the answer.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.status.as_u16().to_string();
        let body = TmfError {
            code: code.clone(),
            reason: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            message: Some(self.message),
            status: Some(code),
            reference_error: None,
            at_type: Some("Error".to_owned()),
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Reads a JSON request body into `T`; a syntax error or a missing or malformed field
/// is a 400 whose message names the field (`affiliated-apis[0]: missing field ...`).
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("the request body is not JSON: {err}")))?;
    parse_value(value)
}

/// Reads a JSON value into `T`, naming the field that does not fit.
pub fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." {
            ApiError::bad_request(inner.to_string())
        } else {
            ApiError::bad_request(format!("{path}: {inner}"))
        }
    })
}
