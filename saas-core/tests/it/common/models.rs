//! The fixture model of saas-core's integration tests and benchmarks: projects, their tasks and
//! memberships, over `tests/migrations`. One declaration, used by `tests/common` and (with
//! `#[path]`) by every benchmark, so a test and a benchmark always measure the same schema.

#![allow(dead_code)] // each test binary and benchmark uses some of them

use saas_core::prelude::*;
use serde::{Deserialize, Serialize};

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations");

#[derive(Debug, Clone, PartialEq, TenantScoped, sqlx::FromRow, Serialize, Deserialize)]
#[tenant(table = "projects")]
pub struct Project {
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub id: Uuid,
    pub name: String,
    #[tenant(generated)]
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, TenantScoped, sqlx::FromRow, Serialize, Deserialize)]
#[tenant(table = "tasks", parent(project_id -> Project))]
pub struct Task {
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, TenantScoped, sqlx::FromRow, Serialize, Deserialize)]
#[tenant(table = "memberships", key(project_id, member), parent(project_id -> Project))]
pub struct Membership {
    pub tenant_id: TenantId,
    pub project_id: Uuid,
    pub member: String,
    pub role: String,
}
