//! The label values of the request metrics: small, cheap to hash, never allocated per
//! request, and bounded in number.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::RwLock;

use axum::extract::MatchedPath;
use http::{HeaderValue, Method};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

use crate::tenancy::TenantId;

/// The `tenant` label: a tenant id, `none` (no tenant resolved) or `other` (past the cap).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum TenantLabel {
    /// No tenant was resolved: unauthenticated requests, admin routes, rejected credentials.
    None,
    /// A tenant past the cardinality cap.
    Other,
    /// One of the first `max_tenants` tenants seen.
    Id(TenantId),
}

impl EncodeLabelValue for TenantLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        match self {
            TenantLabel::None => encoder.write_str("none"),
            TenantLabel::Other => encoder.write_str("other"),
            TenantLabel::Id(id) => write!(encoder, "{id}"),
        }
    }
}

/// The tenants that have their own label value: the first `max` seen by this process. The
/// rest are counted under `other`. Series once exported stay (a counter that vanished would
/// read as a reset), so a tenant keeps its label for the life of the process.
#[derive(Debug)]
pub(crate) struct TenantLabels {
    max: usize,
    seen: RwLock<HashSet<TenantId>>,
}

impl TenantLabels {
    pub(crate) fn new(max: usize) -> Self {
        TenantLabels {
            max,
            seen: RwLock::new(HashSet::new()),
        }
    }

    /// The label of `tenant` (`None`: no tenant).
    pub(crate) fn label(&self, tenant: Option<TenantId>) -> TenantLabel {
        let Some(tenant) = tenant else {
            return TenantLabel::None;
        };
        if let Ok(seen) = self.seen.read() {
            if seen.contains(&tenant) {
                return TenantLabel::Id(tenant);
            }
            if seen.len() >= self.max {
                return TenantLabel::Other;
            }
        }
        match self.seen.write() {
            Ok(mut seen) if seen.contains(&tenant) || seen.len() < self.max => {
                seen.insert(tenant);
                TenantLabel::Id(tenant)
            }
            _ => TenantLabel::Other,
        }
    }
}

/// The `route` label: the matched path template (`/v2/projects/{id}`), never the raw path,
/// or `unmatched` for requests no route matched (whatever their path: no cardinality).
#[derive(Clone, Debug)]
pub(crate) struct RouteLabel(pub(crate) Option<MatchedPath>);

impl RouteLabel {
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for RouteLabel {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteLabel {}

impl Hash for RouteLabel {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// The `method` label: the standard methods by name, any extension method as `other` (a
/// client chooses the method: its text must not become a label).
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The `api_version` label: the `Api-Version` response header the versioned router sets
/// (a server-chosen value: one per declared version), or `none` for unversioned routes.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) struct VersionLabel(pub(crate) Option<HeaderValue>);

impl VersionLabel {
    pub(crate) fn as_str(&self) -> &str {
        self.0
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
    }
}

impl EncodeLabelValue for VersionLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// The labels of `saas_http_requests_total` and `saas_http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) tenant: TenantLabel,
    pub(crate) api_version: VersionLabel,
    pub(crate) route: RouteLabel,
    pub(crate) method: &'static str,
    pub(crate) status: u16,
}

/// The labels of `saas_deprecated_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DeprecatedLabels {
    pub(crate) tenant: TenantLabel,
    pub(crate) api_version: VersionLabel,
}

/// The labels of `saas_db_pool_connections`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PoolStateLabels {
    pub(crate) database: String,
    pub(crate) pool: &'static str,
    pub(crate) state: &'static str,
}

/// The labels of `saas_db_pool_max_connections`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PoolLabels {
    pub(crate) database: String,
    pub(crate) pool: &'static str,
}

/// The labels of `saas_bound_reads_total`: `bound` (one round trip on a tenant-bound
/// connection) or `shared` (the shared path: no room in the bound connections' budget).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BoundReadLabels {
    pub(crate) path: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_past_the_cap_fold_into_other_and_earlier_ones_keep_their_label() {
        let labels = TenantLabels::new(2);
        let (a, b, c) = (
            TenantId::new_random(),
            TenantId::new_random(),
            TenantId::new_random(),
        );
        assert_eq!(labels.label(Some(a)), TenantLabel::Id(a));
        assert_eq!(labels.label(Some(b)), TenantLabel::Id(b));
        assert_eq!(labels.label(Some(c)), TenantLabel::Other);
        assert_eq!(labels.label(Some(a)), TenantLabel::Id(a));
        assert_eq!(labels.label(None), TenantLabel::None);
    }

    #[test]
    fn extension_methods_are_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        let custom = Method::from_bytes(b"X-SECRET-1234").unwrap();
        assert_eq!(method_label(&custom), "other");
    }
}
