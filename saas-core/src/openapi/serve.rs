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

/// The page's assets: served under a name that holds a hash of their bytes (so the page's
/// links change when they do, and any cache may keep them for a year) and, for pages
/// rendered by an older release, under their plain name for a day.
#[cfg(feature = "docs-ui")]
struct DocsAsset {
    plain: &'static str,
    hashed: String,
    bytes: &'static [u8],
    content_type: &'static str,
}

#[cfg(feature = "docs-ui")]
fn docs_assets() -> &'static [DocsAsset; 2] {
    use sha2::{Digest, Sha256};
    static ASSETS: std::sync::OnceLock<[DocsAsset; 2]> = std::sync::OnceLock::new();
    let hashed = |stem: &str, ext: &str, bytes: &[u8]| {
        let digest = Sha256::digest(bytes);
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("{stem}.{hex}.{ext}")
    };
    ASSETS.get_or_init(|| {
        [
            DocsAsset {
                plain: "swagger-ui-bundle.js",
                hashed: hashed("swagger-ui-bundle", "js", SWAGGER_JS),
                bytes: SWAGGER_JS,
                content_type: "text/javascript",
            },
            DocsAsset {
                plain: "swagger-ui.css",
                hashed: hashed("swagger-ui", "css", SWAGGER_CSS),
                bytes: SWAGGER_CSS,
                content_type: "text/css",
            },
        ]
    })
}

/// `/docs/{file}`: an asset by its hashed name (immutable) or its plain name (a day).
#[cfg(feature = "docs-ui")]
fn docs_asset(file: &str) -> Response {
    let found = docs_assets().iter().find_map(|asset| {
        if file == asset.hashed {
            Some((asset, "public, max-age=31536000, immutable"))
        } else if file == asset.plain {
            Some((asset, "public, max-age=86400"))
        } else {
            None
        }
    });
    match found {
        Some((asset, control)) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static(control)),
            ],
            asset.bytes,
        )
            .into_response(),
        None => ApiError::NotFound { resource: "asset" }.into_response(),
    }
}

/// The page at `/docs`: the API reference of the newest served version.
#[cfg(feature = "docs-ui")]
pub fn docs_page(title: &str, spec_url: &str) -> String {
    let title = title.replace('<', "&lt;");
    let [js, css] = docs_assets();
    let (js, css) = (&js.hashed, &css.hashed);
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} — API reference</title>
<link rel="stylesheet" href="/docs/{css}">
</head>
<body>
<div id="api-reference"></div>
<script src="/docs/{js}"></script>
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
            "/docs/{file}",
            get(|Path(file): Path<String>| async move { docs_asset(&file) }),
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
