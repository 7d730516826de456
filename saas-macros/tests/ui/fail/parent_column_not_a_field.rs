use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "projects")]
pub struct Project {
    pub tenant_id: TenantId,
    #[tenant(generated)] pub id: Uuid,
}

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "tasks", parent(projectid -> Project), parent((org_id, tenant_id) -> Project))]
pub struct Task {
    pub tenant_id: TenantId,
    #[tenant(generated)] pub id: Uuid,
    pub project_id: Uuid,
}

fn main() {}
