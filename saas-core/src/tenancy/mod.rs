//! Tenancy: who the tenant is, how a request proves it, and how its context reaches PostgreSQL.
//!
//! Read [`TenantTx`] first: it is the per-request handle through which every tenant-scoped
//! query runs.

pub mod background;
pub mod conditional;
pub mod placement;
pub mod pool;
mod pool_cache;
pub mod provision;
pub mod registry;
pub mod replica;
pub mod resolver;
mod tx;

use std::future::Future;

use sqlx::PgConnection;

pub use crate::error::MOVING_SQLSTATE;
pub use crate::request_tenant::{Conditional, ResourcePath};
pub use crate::tenant_id::{ParseTenantIdError, TenantId};
pub use placement::{Location, Placement};
pub use registry::{Tenant, TenantStatus, Tenants, Tier};
pub use tx::{ReadTx, TenantTx, TenantTxLayer};

use crate::error::ApiResult;

/// The PostgreSQL setting that carries the tenant id; RLS policies read it with
/// `current_setting('saas.tenant_id', true)`.
pub const TENANT_SETTING: &str = "saas.tenant_id";

/// What a statement is about to do, so an executor can pick the cheapest safe path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A single read: may run outside a transaction on a connection bound to the tenant.
    Read,
    /// A write (or anything else): always runs inside the tenant transaction.
    Write,
}

/// Something that runs statements for one tenant with its context in force.
///
/// Implemented by [`TenantTx`]; generated model operations are generic over it.
pub trait TenantExecutor: Send {
    /// The tenant every statement runs for.
    fn tenant_id(&self) -> TenantId;

    /// A connection on which the tenant context is set for the next statement. For
    /// [`Access::Write`] the transaction has begun.
    fn scoped_conn(
        &mut self,
        access: Access,
    ) -> impl Future<Output = ApiResult<&mut PgConnection>> + Send;

    /// Whether the statements run on a Citus cluster, where a few statement shapes are
    /// refused (see [`Tenancy::distributed`](pool::Tenancy::distributed)).
    fn distributed(&self) -> bool {
        false
    }
}

/// An executor that may also write for its tenant: [`TenantTx`]. A [`ReadTx`] is not one, so
/// inserting, updating, deleting or emitting an event through it does not compile (and a
/// write through its raw connection fails: its transaction is `READ ONLY`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot write: inserts, updates, deletes and events need a `TenantTx`",
    label = "a read-only executor",
    note = "take `mut tx: TenantTx` in the handler; a `ReadTx` runs in a READ ONLY transaction (possibly on a replica)"
)]
pub trait TenantWriter: TenantExecutor {}
