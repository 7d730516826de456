#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod app;
mod bootstrap;
pub mod cache;
mod cache_policy;
#[cfg(feature = "cli")]
pub mod cli;
pub mod clock;
#[cfg(feature = "dev-db")]
pub mod devdb;
pub mod error;
pub mod events;
pub mod health;
pub mod http;
pub mod isolation;
pub mod migrate;
pub mod model;
pub mod moves;
pub mod openapi;
pub mod ratelimit;
#[cfg(feature = "redis")]
mod redis_conn;
mod request_tenant;
pub mod settings;
pub mod sql;
pub mod telemetry;
pub mod tenancy;
mod tenant_id;
pub mod versioning;

pub use app::{SaasApp, SaasAppBuilder};
pub use error::{ApiError, ApiResult, Error, Problem, Result};
pub use model::{Page, PageQuery, PageRequest, TenantScoped};
pub use settings::Settings;
pub use tenancy::{ReadTx, TenantExecutor, TenantId, TenantTx, TenantWriter};

/// The `#[derive(TenantScoped)]` macro (feature `macros`, on by default).
#[cfg(feature = "macros")]
pub use saas_macros::{TenantScoped, api_versions, endpoint, routes, version_change};
pub use tenancy::pool::Tenancy;

/// Everything an application module usually needs, in one import.
pub mod prelude {
    pub use crate::app::{SaasApp, SaasAppBuilder};
    pub use crate::error::{ApiError, ApiResult};
    pub use crate::events::DomainEvent;
    pub use crate::http::{Json, Path, Query};
    pub use crate::model::{Page, PageQuery, PageRequest, TenantScoped};
    pub use crate::tenancy::pool::Tenancy;
    pub use crate::tenancy::{ReadTx, TenantExecutor, TenantId, TenantTx, TenantWriter};
    pub use crate::versioning::Created;
    #[cfg(feature = "macros")]
    pub use saas_macros::{TenantScoped, api_versions, endpoint, routes, version_change};
    pub use time::OffsetDateTime;
    pub use uuid::Uuid;
}

/// Paths used by generated code. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::error::ApiResult;
    pub use crate::events::DomainEvent;
    pub use crate::model::{
        ModelKey, ModelMeta, ModelRegistration, ModelSql, Page, PageRequest, ParentMeta, PgQuery,
        TenantScoped,
    };
    pub use crate::tenancy::{TenantExecutor, TenantId};
    pub use crate::versioning::router::VersionLayer;
    pub use crate::versioning::{
        Api, ApiVersion, CachePolicy, Endpoint, EndpointDecl, EndpointEntry, Successor,
        VersionChange, VersionDecl, VersionSet, assert_endpoint,
    };
    pub use axum;
    pub use inventory;

    pub use crate::openapi::operation as op;
    pub use serde_json;
    pub use sqlx;
    pub use utoipa;
    pub use uuid::Uuid;
}
