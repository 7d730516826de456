use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
pub struct Project {
    pub tenant_id: TenantId,
    pub id: Uuid,
}

fn main() {}
