//! The models and migrations the saas-core benchmarks share (the integration tests' set).

#![allow(dead_code)] // each benchmark uses some of them

use saas_core::prelude::*;

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations");

#[derive(Debug, TenantScoped, sqlx::FromRow)]
#[tenant(table = "projects")]
pub struct Project {
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub id: Uuid,
    pub name: String,
    #[tenant(generated)]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, TenantScoped, sqlx::FromRow)]
#[tenant(table = "tasks", parent(project_id -> Project))]
pub struct Task {
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
}

#[derive(Debug, TenantScoped, sqlx::FromRow)]
#[tenant(table = "memberships", key(project_id, member), parent(project_id -> Project))]
pub struct Membership {
    pub tenant_id: TenantId,
    pub project_id: Uuid,
    pub member: String,
    pub role: String,
}
