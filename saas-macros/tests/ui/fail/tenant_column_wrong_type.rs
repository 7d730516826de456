use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "projects")]
pub struct Project {
    pub tenant_id: Uuid,
    pub id: Uuid,
}

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "notes", tenant_column = "org")]
pub struct Note {
    pub org: Option<TenantId>,
    pub id: Uuid,
}

fn main() {}
