//! Paths within an API version: [`Created`], a `201 Created` response whose `Location` names
//! the new resource in the version that created it, and the version-relative path a write
//! locks its resource by.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::request_tenant::{Conditional, ResourcePath, locks_resource};

/// `201 Created` with a JSON body and a `Location` header naming the new resource.
///
/// The location is a path within the API version (`/tasks/{id}`): on a versioned route served
/// by path prefix the router puts the request's version in front (`/v2/tasks/{id}`); with
/// header negotiation, or on a route outside the versioned API, it is sent as given.
///
/// ```
/// use saas_core::prelude::*;
/// use saas_core::versioning::Created;
///
/// #[derive(serde::Serialize)]
/// struct Note { id: Uuid, body: String }
///
/// async fn create_note() -> ApiResult<Created<Note>> {
///     let note = Note { id: Uuid::new_v4(), body: "hi".into() };
///     Ok(Created::at(format!("/notes/{}", note.id), note))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Created<T> {
    location: String,
    body: T,
}

impl<T> Created<T> {
    /// The new resource at `location` (a path within the API version), answered with `body`.
    pub fn at(location: impl Into<String>, body: T) -> Self {
        Created {
            location: location.into(),
            body,
        }
    }
}

/// The location of a [`Created`] response, for the versioned router to put the version in.
#[derive(Debug, Clone)]
struct VersionRelative(String);

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::CREATED, axum::Json(self.body)).into_response();
        match HeaderValue::from_str(&self.location) {
            Ok(value) => {
                response.headers_mut().insert(header::LOCATION, value);
                response
                    .extensions_mut()
                    .insert(VersionRelative(self.location));
            }
            Err(_) => {
                tracing::warn!(location = %self.location, "a Location that is no header value")
            }
        }
        response
    }
}

/// Puts `prefix` (the version's path prefix, `/v2`) in front of a [`Created`] response's
/// location.
pub(crate) fn version_location(response: &mut Response, prefix: Option<&str>) {
    let Some(prefix) = prefix else {
        return;
    };
    if let Some(VersionRelative(path)) = response.extensions_mut().remove::<VersionRelative>()
        && let Ok(value) = HeaderValue::from_str(&format!("{prefix}{path}"))
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
}

/// Tells a request that writes a resource in place (or reads it for a conditional write)
/// the resource's path within the version (`/tasks/1` for `/v2/tasks/1`), so that writes of
/// one resource through every version take the same lock (see [`ResourcePath`]).
pub(crate) fn note_resource_path(
    request: &mut http::Request<axum::body::Body>,
    prefix: Option<&str>,
) {
    let Some(prefix) = prefix else {
        return;
    };
    if !locks_resource(request.method()) && request.extensions().get::<Conditional>().is_none() {
        return;
    }
    if let Some(path) = request.uri().path().strip_prefix(prefix)
        && path.starts_with('/')
    {
        let path = ResourcePath(path.to_string());
        request.extensions_mut().insert(path);
    }
}
