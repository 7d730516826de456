//! Serving the documents and (feature `docs-ui`) the API reference page, with no internet
//! access needed: the Swagger UI assets are compiled into the binary.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
#[cfg(feature = "docs-ui")]
use axum::response::Html;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, header};

use crate::error::ApiError;
use crate::versioning::ApiVersion;
use crate::versioning::router::VersionedApi;

#[cfg(feature = "docs-ui")]
const SWAGGER_JS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
#[cfg(feature = "docs-ui")]
const SWAGGER_CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");

#[cfg(feature = "docs-ui")]
fn asset(bytes: &'static [u8], content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// The page at `/docs`: the API reference of the newest served version.
#[cfg(feature = "docs-ui")]
pub fn docs_page(title: &str, spec_url: &str) -> String {
    let title = title.replace('<', "&lt;");
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} — API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="api-reference"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{ url: "{spec_url}", dom_id: "#api-reference", deepLinking: true }});
</script>
</body>
</html>
"##
    )
}

/// `/openapi/{version}.json`, `/openapi/{version}-3.0.json`, and (feature `docs-ui`) `/docs`
/// and its assets.
pub fn routes(api: Arc<VersionedApi>) -> Router {
    let router = Router::new().route(
        "/openapi/{file}",
        get({
            let api = api.clone();
            move |Path(file): Path<String>| {
                let api = api.clone();
                async move { document_file(&api, &file) }
            }
        }),
    );
    #[cfg(feature = "docs-ui")]
    let router = docs_routes(router, api);
    #[cfg(not(feature = "docs-ui"))]
    drop(api);
    router
}

#[cfg(feature = "docs-ui")]
fn docs_routes(router: Router, docs_api: Arc<VersionedApi>) -> Router {
    router
        .route(
            "/docs",
            get(move || {
                let api = docs_api.clone();
                async move {
                    let newest = api
                        .newest_served()
                        .map(|v| v.path_segment())
                        .unwrap_or_default();
                    (
                        [(
                            header::CACHE_CONTROL,
                            HeaderValue::from_static("public, max-age=300"),
                        )],
                        Html(docs_page(
                            &api.options().docs.title,
                            &format!("/openapi/{newest}.json"),
                        )),
                    )
                }
            }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async { asset(SWAGGER_JS, "text/javascript") }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async { asset(SWAGGER_CSS, "text/css") }),
        )
}

fn document_file(api: &VersionedApi, file: &str) -> Response {
    let (name, downgrade) = match file.strip_suffix("-3.0.json") {
        Some(name) => (name, true),
        None => match file.strip_suffix(".json") {
            Some(name) => (name, false),
            None => {
                return ApiError::NotFound {
                    resource: "document",
                }
                .into_response();
            }
        },
    };
    let Some(doc) = ApiVersion::parse(name).and_then(|v| api.document(v)) else {
        return ApiError::NotFound {
            resource: "document",
        }
        .into_response();
    };
    let doc = if downgrade {
        super::downgrade::to_openapi_30(doc)
    } else {
        doc.clone()
    };
    // Public and the same for every client: shared caches may keep it (for five minutes, so
    // a deployment's new document reaches clients soon).
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        axum::Json(doc),
    )
        .into_response()
}
