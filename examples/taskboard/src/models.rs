//! The taskboard's tenant-scoped models.

use saas_core::prelude::*;

/// A project belongs to exactly one tenant.
#[derive(Debug, Clone, TenantScoped, sqlx::FromRow)]
#[tenant(table = "projects")]
pub struct Project {
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub id: Uuid,
    pub name: String,
    #[tenant(generated)]
    pub created_at: OffsetDateTime,
}

/// A task lives in a project of the same tenant (composite foreign key).
#[derive(Debug, Clone, TenantScoped, sqlx::FromRow)]
#[tenant(table = "tasks", parent(project_id -> Project))]
pub struct Task {
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub status: String,
    #[tenant(generated)]
    pub created_at: OffsetDateTime,
}
