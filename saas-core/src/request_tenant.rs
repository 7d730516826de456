//! The tenant a request acts for, as the layers around the handler learn it.
//!
//! Tenant resolution is lazy: the `TenantCtx` extractor resolves inside the handler, after
//! the telemetry layer has opened the request's span. The layer puts a [`RequestSlot`] in the
//! request's extensions and the resolver fills it in. A leaf module, so that the resolver
//! (tenancy) and the layer (telemetry) share it without depending on each other.

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
