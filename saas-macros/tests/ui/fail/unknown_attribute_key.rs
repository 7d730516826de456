use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "projects", tabel = "projects", generated)]
pub struct Project {
    pub tenant_id: TenantId,
    #[tenant(generated, primary)]
    pub id: Uuid,
    #[tenant(table = "x")]
    pub name: String,
}

fn main() {}
