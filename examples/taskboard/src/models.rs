//! The taskboard's tenant-scoped models.

use saas_core::prelude::*;
use serde::Serialize;

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

/// A project as the API shows it (the tenant is implied by the token).
#[derive(Debug, Clone, Serialize)]
pub struct ProjectBody {
    pub id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Project> for ProjectBody {
    fn from(p: Project) -> Self {
        ProjectBody {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
        }
    }
}

/// A task as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskBody {
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Task> for TaskBody {
    fn from(t: Task) -> Self {
        TaskBody {
            id: t.id,
            project_id: t.project_id,
            title: t.title,
            status: t.status,
            created_at: t.created_at,
        }
    }
}
