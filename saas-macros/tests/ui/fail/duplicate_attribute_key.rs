use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "projects", key = "id")]
#[tenant(table = "projects_v2", key = "id")]
pub struct Project {
    pub tenant_id: TenantId,
    #[tenant(generated, generated)]
    pub id: Uuid,
}

fn main() {}
