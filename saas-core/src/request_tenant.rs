//! The tenant a request acts for, as the layers around the handler learn it.
//!
//! Tenant resolution is lazy: the `TenantCtx` extractor resolves inside the handler, after
//! the telemetry layer has opened the request's span. The layer puts a [`RequestSlot`] in the
//! request's extensions and the resolver fills it in. A leaf module, so that the resolver
//! (tenancy) and the layer (telemetry) share it without depending on each other.
//!
//! Also what a request tells its transaction about a write in place: [`Conditional`] and
//! [`ResourcePath`], put there by the HTTP layers and read by `TenantTx`.

use std::sync::{Arc, OnceLock};

use tracing::Span;

use crate::tenant_id::TenantId;

/// The request's span and, once resolved, its tenant. Cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub(crate) struct RequestSlot(Arc<SlotInner>);

#[derive(Debug)]
struct SlotInner {
    tenant: OnceLock<TenantId>,
    span: Span,
}

impl RequestSlot {
    pub(crate) fn new(span: Span) -> Self {
        Self(Arc::new(SlotInner {
            tenant: OnceLock::new(),
            span,
        }))
    }

    /// The tenant the handler resolved, if it resolved one.
    pub(crate) fn tenant(&self) -> Option<TenantId> {
        self.0.tenant.get().copied()
    }

    pub(crate) fn span(&self) -> &Span {
        &self.0.span
    }
}

/// Tells the telemetry layer (if any) which tenant a request acts for, and records it on the
/// request's span so every log line inside the handler carries it. The first tenant wins.
pub(crate) fn note_tenant(extensions: &http::Extensions, tenant: TenantId) {
    if let Some(slot) = extensions.get::<RequestSlot>()
        && slot.0.tenant.set(tenant).is_ok()
    {
        slot.0
            .span
            .record("tenant_id", tracing::field::display(tenant));
    }
}

/// A request's part in a conditional write (`If-Match`), as an extension of the request.
///
/// [`crate::tenancy::conditional::IfMatchLayer`] first runs the resource's `GET` marked
/// [`Conditional::Probe`]: its transaction is a write transaction on the primary that takes the
/// resource's write lock before it reads. The layer compares the representation's tag with
/// `If-Match`, and when it matches runs the write marked [`Conditional::Write`], whose
/// `TenantTx` carries on in the probe's transaction. The comparison and the write are one
/// transaction under one lock, so no other write to the resource lands between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conditional {
    /// The `GET` that reads the current representation for the comparison.
    Probe,
    /// The write that follows a matching probe.
    Write,
}

/// The path that names a resource whatever the version that serves it (`/tasks/1` for
/// `/v1/tasks/1` and `/v2/tasks/1`): the versioned router puts it on writes, so a write
/// through one version and a conditional write through another take the same lock.
#[derive(Clone, Debug)]
pub struct ResourcePath(pub String);

/// Whether a request with this method writes a resource in place: such requests take the
/// resource's write lock at the start of their transaction (see [`Conditional`]).
pub(crate) fn locks_resource(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::PUT | http::Method::PATCH | http::Method::DELETE
    )
}
