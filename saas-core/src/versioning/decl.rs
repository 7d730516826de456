//! Declarations the version macros produce, and the checks that run on them at compile time
//! (as `const` evaluation inside `routes!`).

use axum::routing::MethodRouter;
use utoipa::openapi::RefOr;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::Schema;

use super::ApiVersion;
use crate::cache_policy::CachePolicy;

/// One declared API version and its lifecycle. Produced by `api_versions!`.
#[derive(Debug, Clone, Copy)]
pub struct VersionDecl {
    /// The version.
    pub version: ApiVersion,
    /// Deprecated from this instant (unix seconds), if at all.
    pub deprecated: Option<i64>,
    /// Gone from this instant (unix seconds), if at all; never earlier than `deprecated`.
    pub sunset: Option<i64>,
    /// A page explaining the deprecation and the migration.
    pub docs: Option<&'static str>,
}

/// The versions of an API, oldest first. Produced by `api_versions!`.
#[derive(Debug, Clone, Copy)]
pub struct VersionSet {
    /// The versions, strictly increasing.
    pub versions: &'static [VersionDecl],
}

impl VersionSet {
    /// The declaration of `version`, if declared.
    pub const fn find(&self, version: &ApiVersion) -> Option<&VersionDecl> {
        let mut i = 0;
        while i < self.versions.len() {
            if self.versions[i].version.same(version) {
                return Some(&self.versions[i]);
            }
            i += 1;
        }
        None
    }

    /// The newest declared version.
    pub fn newest(&self) -> Option<ApiVersion> {
        self.versions.last().map(|v| v.version)
    }

    /// Every declared version, oldest first.
    pub fn iter(&self) -> std::slice::Iter<'_, VersionDecl> {
        self.versions.iter()
    }
}

/// Where a deprecated endpoint's clients should go.
#[derive(Debug, Clone, Copy)]
pub struct Successor {
    /// The version of the successor.
    pub version: ApiVersion,
    /// Its path template (without version prefix); `None` means the same path.
    pub path: Option<&'static str>,
}

/// One handler's declaration: where it lives and for which versions. Produced by
/// `#[endpoint]`.
#[derive(Debug, Clone, Copy)]
pub struct EndpointDecl {
    /// The handler's name.
    pub name: &'static str,
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path template without version prefix, axum syntax (`/projects/{id}`).
    pub path: &'static str,
    /// The first version it lives in.
    pub introduced: ApiVersion,
    /// The first version it no longer lives in.
    pub removed: Option<ApiVersion>,
    /// Endpoint-level deprecation (unix seconds); overrides the version's.
    pub deprecated: Option<i64>,
    /// Endpoint-level sunset (unix seconds); overrides the version's.
    pub sunset: Option<i64>,
    /// Endpoint-level deprecation docs.
    pub docs: Option<&'static str>,
    /// An explicit successor.
    pub successor: Option<Successor>,
    /// How caches may keep its responses (`cache = ..`; default [`CachePolicy::Private`]).
    pub cache: CachePolicy,
    /// Whether its writes need `If-Match` (`if_match = required`): without it they answer
    /// `428 Precondition Required` and the handler does not run.
    pub require_if_match: bool,
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl EndpointDecl {
    /// Whether the endpoint lives in `version`.
    pub const fn lives_in(&self, version: &ApiVersion) -> bool {
        version.rank() >= self.introduced.rank()
            && match &self.removed {
                None => true,
                Some(removed) => version.rank() < removed.rank(),
            }
    }

    /// Whether two endpoints claim the same method and path in a common version.
    pub const fn overlaps(&self, other: &EndpointDecl) -> bool {
        if !str_eq(self.method, other.method) || !str_eq(self.path, other.path) {
            return false;
        }
        let start = if self.introduced.rank() > other.introduced.rank() {
            self.introduced.rank()
        } else {
            other.introduced.rank()
        };
        let end_a = match &self.removed {
            Some(r) => r.rank(),
            None => u64::MAX,
        };
        let end_b = match &other.removed {
            Some(r) => r.rank(),
            None => u64::MAX,
        };
        let end = if end_a < end_b { end_a } else { end_b };
        start < end
    }

    /// Checks the endpoint against the declared versions: `None` when consistent, otherwise
    /// what is wrong.
    pub const fn check(&self, versions: &VersionSet) -> Option<&'static str> {
        if versions.find(&self.introduced).is_none() {
            return Some(
                "the version an endpoint is introduced in is not declared in api_versions!",
            );
        }
        let mut live = false;
        let mut i = 0;
        while i < versions.versions.len() {
            if self.lives_in(&versions.versions[i].version) {
                live = true;
            }
            i += 1;
        }
        if !live {
            return Some("the endpoint lives in no declared version");
        }
        if let Some(problem) = self.cache.problem(str_eq(self.method, "GET")) {
            return Some(problem);
        }
        if self.require_if_match
            && !(str_eq(self.method, "PUT")
                || str_eq(self.method, "PATCH")
                || str_eq(self.method, "DELETE"))
        {
            return Some(
                "`if_match = required` on an endpoint that is not a PUT, PATCH or DELETE: \
                 only those are conditional writes; remove the key",
            );
        }
        if let Some(successor) = &self.successor {
            match versions.find(&successor.version) {
                None => return Some("the successor version is not declared in api_versions!"),
                Some(decl) => {
                    if decl.sunset.is_some() {
                        return Some("the successor version is itself sunset: name a live version");
                    }
                    if successor.version.rank() <= self.introduced.rank() {
                        return Some(
                            "the successor version must be newer than the endpoint's first version",
                        );
                    }
                }
            }
        }
        None
    }
}

/// Panics (at compile time, inside `routes!`) when two endpoints overlap or one is
/// inconsistent with the declared versions. Messages are static: the macro adds the names.
pub const fn assert_endpoint(versions: &VersionSet, endpoint: &EndpointDecl) {
    if let Some(problem) = endpoint.check(versions) {
        panic!("{}", problem);
    }
}

/// A handler registered with the versioned router. Implemented by `#[endpoint]`.
pub trait Endpoint {
    /// The declaration.
    const DECL: EndpointDecl;
    /// The axum method router serving the handler.
    fn method_router() -> MethodRouter;
    /// The same, with the version layer wrapped around the handler itself
    /// ([`VersionLayer::handler`](super::router::VersionLayer::handler)): one handler, boxed
    /// once, no service in between.
    fn versioned_method_router(layer: super::router::VersionLayer) -> MethodRouter;
    /// The OpenAPI operation (from utoipa).
    fn operation() -> Operation;
    /// The schemas the operation refers to.
    fn schemas(out: &mut Vec<(String, RefOr<Schema>)>);
}

/// A type-erased [`Endpoint`], as `routes!` lists them.
#[derive(Clone, Copy)]
pub struct EndpointEntry {
    /// The declaration.
    pub decl: &'static EndpointDecl,
    /// See [`Endpoint::method_router`].
    pub method_router: fn() -> MethodRouter,
    /// See [`Endpoint::versioned_method_router`].
    pub versioned_method_router: fn(super::router::VersionLayer) -> MethodRouter,
    /// See [`Endpoint::operation`].
    pub operation: fn() -> Operation,
    /// See [`Endpoint::schemas`].
    pub schemas: fn(&mut Vec<(String, RefOr<Schema>)>),
}

impl std::fmt::Debug for EndpointEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointEntry")
            .field("decl", self.decl)
            .finish()
    }
}

impl EndpointEntry {
    /// The entry of an endpoint type.
    pub const fn of<E: Endpoint>() -> EndpointEntry {
        EndpointEntry {
            decl: &E::DECL,
            method_router: E::method_router,
            versioned_method_router: E::versioned_method_router,
            operation: E::operation,
            schemas: E::schemas,
        }
    }
}

/// A version change between two shapes of one schema, registered by `#[version_change]`.
///
/// `from > to` is a *response* change: the current handler's output of schema `input` is
/// turned into the older schema `output` for clients of versions `<= to`. `from < to` is a
/// *request* change: an older client's body of schema `input` is turned into the newer
/// schema `output` before the handler sees it, for versions `<= from`.
#[derive(Clone, Copy)]
pub struct VersionChange {
    /// The version of the input shape.
    pub from: ApiVersion,
    /// The version of the output shape.
    pub to: ApiVersion,
    /// The input schema's name and definition.
    pub input: fn() -> (String, RefOr<Schema>),
    /// The output schema's name and definition.
    pub output: fn() -> (String, RefOr<Schema>),
    /// The conversion, on JSON values; errors are the client's (422).
    pub apply: fn(serde_json::Value) -> Result<serde_json::Value, String>,
}

impl std::fmt::Debug for VersionChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionChange")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("input", &(self.input)().0)
            .field("output", &(self.output)().0)
            .finish()
    }
}

inventory::collect!(VersionChange);

#[cfg(test)]
mod tests {
    use super::*;

    const fn ep(
        method: &'static str,
        path: &'static str,
        from: u32,
        to: Option<u32>,
    ) -> EndpointDecl {
        EndpointDecl {
            name: "x",
            method,
            path,
            introduced: ApiVersion::Int(from),
            removed: match to {
                Some(t) => Some(ApiVersion::Int(t)),
                None => None,
            },
            deprecated: None,
            sunset: None,
            docs: None,
            successor: None,
            cache: CachePolicy::Private,
            require_if_match: false,
        }
    }

    #[test]
    fn overlapping_ranges_of_the_same_route_are_detected() {
        assert!(ep("GET", "/a", 1, None).overlaps(&ep("GET", "/a", 2, None)));
        assert!(!ep("GET", "/a", 1, Some(2)).overlaps(&ep("GET", "/a", 2, None)));
        assert!(!ep("GET", "/a", 1, None).overlaps(&ep("POST", "/a", 1, None)));
        assert!(!ep("GET", "/a", 1, None).overlaps(&ep("GET", "/b", 1, None)));
    }

    #[test]
    fn endpoints_are_checked_against_declared_versions() {
        static VERSIONS: VersionSet = VersionSet {
            versions: &[
                VersionDecl {
                    version: ApiVersion::Int(1),
                    deprecated: Some(0),
                    sunset: Some(10),
                    docs: None,
                },
                VersionDecl {
                    version: ApiVersion::Int(2),
                    deprecated: None,
                    sunset: None,
                    docs: None,
                },
            ],
        };
        assert!(ep("GET", "/a", 1, None).check(&VERSIONS).is_none());
        assert!(ep("GET", "/a", 3, None).check(&VERSIONS).is_some());
        let mut with_successor = ep("GET", "/a", 1, Some(2));
        with_successor.successor = Some(Successor {
            version: ApiVersion::Int(2),
            path: None,
        });
        assert!(with_successor.check(&VERSIONS).is_none());
        with_successor.successor = Some(Successor {
            version: ApiVersion::Int(7),
            path: None,
        });
        assert!(with_successor.check(&VERSIONS).is_some());
    }
}
