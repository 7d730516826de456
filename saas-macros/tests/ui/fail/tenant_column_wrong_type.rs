use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "projects")]
pub struct Project {
    pub tenant_id: Uuid,
    #[tenant(generated)] pub id: Uuid,
}

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "notes", tenant_column = "org")]
pub struct Note {
    pub org: Option<TenantId>,
    #[tenant(generated)] pub id: Uuid,
}

fn main() {}
