use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
pub struct Project {
    pub tenant_id: TenantId,
    #[tenant(generated)] pub id: Uuid,
}

fn main() {}
