//! The versioned router: every endpoint mounted under each version it lives in, with the
//! version's headers, the 410 after sunset, and version changes for older shapes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use http::{HeaderName, HeaderValue, Request, StatusCode, header};
use serde_json::{Map, Value};

use super::changes::Changes;
use super::clock::Clock;
use super::headers::{deprecation_value, fill_path, imf_fixdate, link};
pub use super::options::{DocsConfig, Negotiation, VersioningConfig};
use super::{Api, ApiVersion, EndpointDecl};
use crate::error::{ApiError, Problem};

mod handler;
use handler::RouteRules;
pub use handler::{VersionFuture, VersionLayer, Versioned};

/// The response header naming the version that served a request.
pub const API_VERSION_HEADER: &str = "api-version";

const API_VERSION: HeaderName = HeaderName::from_static(API_VERSION_HEADER);

/// The header value naming `version`; small integer versions use static values, so cloning
/// one per response costs no reference counting.
fn version_value(version: ApiVersion) -> HeaderValue {
    const SMALL: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    match version {
        ApiVersion::Int(n) if (n as usize) < SMALL.len() => {
            HeaderValue::from_static(SMALL[n as usize])
        }
        other => {
            HeaderValue::from_str(&other.to_string()).unwrap_or(HeaderValue::from_static("unknown"))
        }
    }
}

/// An [`Api`] ready to serve: its documents are built once, at start-up.
#[derive(Debug, Clone)]
pub struct VersionedApi {
    api: Api,
    options: VersioningConfig,
    changes: Changes,
    documents: Vec<(ApiVersion, Value)>,
    /// Every schema in its current shape (what version changes convert from and to).
    current: Arc<serde_json::Map<String, Value>>,
    /// The routes serving the documents (`crate::openapi::serve::routes`), given by the
    /// layer above: this module builds no document itself.
    document_routes: fn(Arc<VersionedApi>) -> Router,
    route_layer: Option<RouteLayer>,
}

/// A layer applied to every versioned route inside the version's headers (see
/// [`VersionedApi::route_layer`]).
#[derive(Clone)]
struct RouteLayer(Arc<dyn Fn(MethodRouter) -> MethodRouter + Send + Sync>);

impl std::fmt::Debug for RouteLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteLayer")
    }
}

/// What the version layer of one endpoint in one version needs.
#[derive(Debug)]
pub struct RouteVersion {
    version: ApiVersion,
    route_template: String,
    deprecated: Option<i64>,
    sunset: Option<i64>,
    successor_template: Option<String>,
    /// Every header value that does not depend on the request, built once.
    headers: StaticHeaders,
    clock: Arc<dyn Clock>,
    gone_after_sunset: bool,
    changes: Changes,
    max_body: usize,
    /// The current-shape response schema, when a change touches it for this version.
    response_schema: Option<(Value, Arc<Map<String, Value>>)>,
    /// This version's request schema, when a change touches it.
    request_schema: Option<(Value, Arc<Map<String, Value>>)>,
    /// The endpoint's cache policy and `If-Match` requirement.
    rules: RouteRules,
}

const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
const SUNSET: HeaderName = HeaderName::from_static("sunset");

/// The header values of a route's responses that do not depend on the request.
#[derive(Debug, Clone)]
struct StaticHeaders {
    /// `Api-Version`.
    version: HeaderValue,
    /// `Vary: <negotiation header>` in header mode.
    vary: Option<HeaderValue>,
    /// `Deprecation`, on deprecated routes.
    deprecation: Option<HeaderValue>,
    /// `Sunset`, on deprecated routes with a sunset date.
    sunset: Option<HeaderValue>,
    /// The `Link`s to the documentation (the successor link depends on the path).
    doc_links: Vec<HeaderValue>,
    /// The version's path prefix (`/v2`) put in front of a [`Created`](super::Created)
    /// location, when versions are told apart by path.
    location_prefix: Option<Arc<str>>,
}

impl StaticHeaders {
    fn new(
        version: ApiVersion,
        deprecated: Option<i64>,
        sunset: Option<i64>,
        docs: Option<&str>,
        vary: Option<&HeaderName>,
        location_prefix: Option<String>,
    ) -> StaticHeaders {
        let mut doc_links = Vec::new();
        if deprecated.is_some()
            && let Some(docs) = docs
        {
            doc_links.push(link(docs, "deprecation"));
            if sunset.is_some() {
                doc_links.push(link(docs, "sunset"));
            }
        }
        StaticHeaders {
            version: version_value(version),
            vary: vary.map(|name| {
                HeaderValue::from_str(name.as_str())
                    .unwrap_or(HeaderValue::from_static("api-version"))
            }),
            deprecation: deprecated.and_then(|d| HeaderValue::from_str(&deprecation_value(d)).ok()),
            sunset: sunset
                .filter(|_| deprecated.is_some())
                .and_then(|s| HeaderValue::from_str(&imf_fixdate(s)).ok()),
            doc_links: doc_links
                .iter()
                .filter_map(|l| HeaderValue::from_str(l).ok())
                .collect(),
            location_prefix: location_prefix.map(Arc::from),
        }
    }
}

impl RouteVersion {
    /// Nothing but the version header to add (no deprecation, no sunset, no changes).
    fn is_plain(&self) -> bool {
        self.deprecated.is_none()
            && self.sunset.is_none()
            && self.response_schema.is_none()
            && self.request_schema.is_none()
    }

    fn decorate(&self, response: &mut Response, path: &str) {
        super::created::version_location(response, self.headers.location_prefix.as_deref());
        let headers = response.headers_mut();
        put_version(
            headers,
            self.headers.version.clone(),
            self.headers.vary.clone(),
        );
        if self.deprecated.is_none() {
            return;
        }
        if let Some(v) = &self.headers.deprecation {
            headers.insert(DEPRECATION, v.clone());
        }
        if let Some(v) = &self.headers.sunset {
            headers.insert(SUNSET, v.clone());
        }
        for v in &self.headers.doc_links {
            headers.append(header::LINK, v.clone());
        }
        if let Some(successor) = self.successor(path)
            && let Ok(v) = HeaderValue::from_str(&link(&successor, "successor-version"))
        {
            headers.append(header::LINK, v);
        }
    }

    fn successor(&self, path: &str) -> Option<String> {
        self.successor_template
            .as_ref()
            .map(|t| fill_path(&self.route_template, path, t))
    }

    fn is_gone(&self) -> bool {
        self.gone_after_sunset && self.sunset.is_some_and(|s| self.clock.unix_seconds() >= s)
    }
}

/// The fields every response of a version carries: the version, and `Vary` in header mode.
fn put_version(headers: &mut http::HeaderMap, version: HeaderValue, vary: Option<HeaderValue>) {
    headers.insert(API_VERSION, version);
    if let Some(vary) = vary {
        headers.append(header::VARY, vary);
    }
}

fn success_schema(op: &Value) -> Option<Value> {
    let responses = op.get("responses")?.as_object()?;
    responses
        .iter()
        .filter(|(code, _)| code.starts_with('2'))
        .find_map(|(_, r)| r.pointer("/content/application~1json/schema").cloned())
}

fn request_schema(op: &Value) -> Option<Value> {
    op.pointer("/requestBody/content/application~1json/schema")
        .cloned()
}

impl VersionedApi {
    /// An API with its documents already built (by [`crate::openapi`], whose
    /// `VersionedApi::new` calls this).
    pub(crate) fn from_parts(
        api: Api,
        options: VersioningConfig,
        changes: Changes,
        documents: Vec<(ApiVersion, Value)>,
        current: serde_json::Map<String, Value>,
        document_routes: fn(Arc<VersionedApi>) -> Router,
    ) -> VersionedApi {
        VersionedApi {
            api,
            options,
            changes,
            documents,
            current: Arc::new(current),
            document_routes,
            route_layer: None,
        }
    }

    /// The registered version changes.
    pub(crate) fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Wraps every versioned route in `layer`, inside the version's headers: a response the
    /// layer answers itself (say a 429 from [`crate::ratelimit::RateLimitLayer`]) still
    /// carries `api-version`, `Vary` and, on a deprecated version, `Deprecation`, `Sunset`
    /// and `Link`, like every other response of that version. (`Router::layer` on the
    /// finished router would put the layer outside them.)
    pub fn route_layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service:
            tower::Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<Request<Body>>>::Response: IntoResponse + 'static,
        <L::Service as tower::Service<Request<Body>>>::Future: Send + 'static,
    {
        let previous = self.route_layer.take();
        self.route_layer = Some(RouteLayer(Arc::new(move |router: MethodRouter| {
            let router = match &previous {
                Some(previous) => (previous.0)(router),
                None => router,
            };
            router.layer(layer.clone())
        })));
        self
    }

    /// The API.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The options.
    pub fn options(&self) -> &VersioningConfig {
        &self.options
    }

    /// Every version's document, oldest first.
    pub fn documents(&self) -> &[(ApiVersion, Value)] {
        &self.documents
    }

    /// One version's document.
    pub fn document(&self, version: ApiVersion) -> Option<&Value> {
        self.documents
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, d)| d)
    }

    /// The newest version the router serves.
    pub fn newest_served(&self) -> Option<ApiVersion> {
        self.api
            .versions
            .iter()
            .filter(|v| {
                self.api
                    .endpoints
                    .iter()
                    .any(|e| e.decl.lives_in(&v.version))
            })
            .map(|v| v.version)
            .next_back()
    }

    fn route_version(
        &self,
        decl: &'static EndpointDecl,
        version: ApiVersion,
        op: &Value,
        current: &Arc<Map<String, Value>>,
    ) -> RouteVersion {
        let vdecl = self.api.versions.find(&version);
        let prefix = |v: ApiVersion| match self.options.negotiation {
            Negotiation::PathPrefix => format!("/{}", v.path_segment()),
            Negotiation::Header { .. } => String::new(),
        };
        let deprecated = decl.deprecated.or(vdecl.and_then(|v| v.deprecated));
        let successor_template = match decl.successor {
            Some(s) => Some(format!(
                "{}{}",
                prefix(s.version),
                s.path.unwrap_or(decl.path)
            )),
            None if deprecated.is_some() => self
                .api
                .versions
                .iter()
                .filter(|v| v.version > version && v.deprecated.is_none())
                .find(|v| {
                    self.api.endpoints.iter().any(|e| {
                        e.decl.path == decl.path
                            && e.decl.method == decl.method
                            && e.decl.lives_in(&v.version)
                    })
                })
                .map(|v| format!("{}{}", prefix(v.version), decl.path)),
            None => None,
        };
        let doc = self.document(version);
        let version_components = Arc::new(
            doc.and_then(|d| d.pointer("/components/schemas"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        );
        let response_schema = success_schema(op)
            .filter(|s| self.changes.touches(s, current, true, version))
            .map(|s| (s, current.clone()));
        let doc_op = doc.and_then(|d| {
            d.get("paths")?
                .get(format!("{}{}", prefix(version), decl.path))?
                .get(decl.method.to_ascii_lowercase())
        });
        let request_schema = doc_op
            .and_then(request_schema)
            .filter(|s| self.changes.touches(s, &version_components, false, version))
            .map(|s| (s, version_components.clone()));
        let sunset = decl.sunset.or(vdecl.and_then(|v| v.sunset));
        let vary = match &self.options.negotiation {
            Negotiation::Header { name, .. } => Some(name),
            Negotiation::PathPrefix => None,
        };
        let docs = decl.docs.or(vdecl.and_then(|v| v.docs));
        RouteVersion {
            version,
            route_template: format!("{}{}", prefix(version), decl.path),
            deprecated,
            sunset,
            successor_template,
            headers: StaticHeaders::new(
                version,
                deprecated,
                sunset,
                docs,
                vary,
                vary.is_none().then(|| prefix(version)),
            ),
            clock: self.options.clock.clone(),
            gone_after_sunset: self.options.gone_after_sunset,
            changes: self.changes.clone(),
            max_body: self.options.max_transform_body,
            response_schema,
            request_schema,
            rules: RouteRules {
                endpoint: decl.name,
                cache: decl.cache,
                require_if_match: decl.require_if_match,
            },
        }
    }

    fn version_router(&self, version: ApiVersion, current: &Arc<Map<String, Value>>) -> Router {
        let mut router = Router::new();
        for entry in &self.api.endpoints {
            if !entry.decl.lives_in(&version) {
                continue;
            }
            let op = serde_json::to_value((entry.operation)()).unwrap_or(Value::Null);
            let info = self.route_version(entry.decl, version, &op, current);
            let path = match self.options.negotiation {
                Negotiation::PathPrefix => {
                    format!("/{}{}", version.path_segment(), entry.decl.path)
                }
                Negotiation::Header { .. } => entry.decl.path.to_string(),
            };
            let layer = VersionLayer::new(info);
            let mut method_router = (entry.versioned_method_router)(layer.clone());
            if let Some(route_layer) = &self.route_layer {
                method_router = (route_layer.0)(method_router).layer(
                    axum::middleware::map_response_with_state(
                        layer,
                        |axum::extract::State(layer): axum::extract::State<VersionLayer>,
                         uri: http::Uri,
                         mut response: Response| async move {
                            layer.decorate_answered(&mut response, uri.path());
                            response
                        },
                    ),
                );
            }
            router = router.route(&path, method_router);
        }
        router
    }

    fn supported(&self) -> String {
        self.api
            .versions
            .iter()
            .map(|v| v.version.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn unknown_version(&self, asked: &str) -> Response {
        let detail = format!(
            "API version {asked:?} does not exist; supported versions: {}",
            self.supported()
        );
        Problem::new(StatusCode::NOT_FOUND, detail).into_response()
    }

    /// The router serving every version, the documents (`/openapi/{version}.json`, and
    /// `/openapi/{version}-3.0.json` for 3.0 generators) and the API reference (`/docs`).
    pub fn router(&self) -> Router {
        let current = self.current.clone();
        let this = Arc::new(self.clone());
        let api_router = match &self.options.negotiation {
            Negotiation::PathPrefix => {
                let mut router = Router::new();
                for v in self.api.versions.iter() {
                    router = router.merge(self.version_router(v.version, &current));
                }
                let this = this.clone();
                router.fallback(move |request: Request<Body>| {
                    let this = this.clone();
                    async move { this.fallback(request.uri().path()) }
                })
            }
            Negotiation::Header { name, default } => {
                let routers: HashMap<ApiVersion, Router> = self
                    .api
                    .versions
                    .iter()
                    .map(|v| (v.version, self.version_router(v.version, &current)))
                    .collect();
                let routers = Arc::new(routers);
                let (name, default) = (name.clone(), *default);
                let this = this.clone();
                Router::new().fallback(move |request: Request<Body>| {
                    let (routers, name, this) = (routers.clone(), name.clone(), this.clone());
                    async move {
                        use tower::ServiceExt;
                        let asked = request
                            .headers()
                            .get(&name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let version = match &asked {
                            None => Some(default),
                            Some(text) => ApiVersion::parse(text),
                        };
                        let mut response = match version.and_then(|v| routers.get(&v)) {
                            Some(router) => match router.clone().oneshot(request).await {
                                Ok(r) => r,
                                Err(never) => match never {},
                            },
                            None => this.unknown_version(asked.as_deref().unwrap_or("")),
                        };
                        // Every response names the header it varies on, once: the route
                        // layer has added it to the responses of versioned routes already.
                        let varies =
                            response.headers().get_all(header::VARY).iter().any(|v| {
                                v.as_bytes().eq_ignore_ascii_case(name.as_str().as_bytes())
                            });
                        if !varies && let Ok(v) = HeaderValue::from_str(name.as_str()) {
                            response.headers_mut().append(header::VARY, v);
                        }
                        response
                    }
                })
            }
        };
        (self.document_routes)(this).merge(api_router)
    }

    /// 404s outside every route: an undeclared version names the supported ones; a declared
    /// version's 404 still carries that version's headers.
    fn fallback(&self, path: &str) -> Response {
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let mut response = ApiError::NotFound { resource: "route" }.into_response();
        match ApiVersion::parse(first) {
            Some(v) if self.api.versions.find(&v).is_none() => return self.unknown_version(first),
            Some(v) => {
                let info = self.version_level(v);
                info.decorate(&mut response, path);
            }
            None => {}
        }
        response
    }

    /// The headers of a version as a whole (for responses outside its routes).
    fn version_level(&self, version: ApiVersion) -> RouteVersion {
        let vdecl = self.api.versions.find(&version);
        let deprecated = vdecl.and_then(|v| v.deprecated);
        let successor = self
            .api
            .versions
            .iter()
            .filter(|v| v.version > version && v.deprecated.is_none())
            .map(|v| format!("/{}", v.version.path_segment()))
            .next_back();
        let sunset = vdecl.and_then(|v| v.sunset);
        let docs = vdecl.and_then(|v| v.docs);
        RouteVersion {
            version,
            route_template: format!("/{}", version.path_segment()),
            deprecated,
            sunset,
            successor_template: successor.filter(|_| deprecated.is_some()),
            headers: StaticHeaders::new(version, deprecated, sunset, docs, None, None),
            clock: self.options.clock.clone(),
            gone_after_sunset: false,
            changes: Changes::default(),
            max_body: 0,
            response_schema: None,
            request_schema: None,
            rules: RouteRules {
                endpoint: "",
                cache: crate::cache_policy::CachePolicy::Private,
                require_if_match: false,
            },
        }
    }
}
