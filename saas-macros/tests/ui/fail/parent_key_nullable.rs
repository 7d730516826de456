// A nullable parent key: the parent's key is required (the foreign key would allow orphans).
use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "notebooks")]
pub struct Notebook {
    pub tenant_id: TenantId,
    #[tenant(generated)] pub id: Uuid,
}

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "notes", parent(notebook_id -> Notebook))]
pub struct Note {
    pub tenant_id: TenantId,
    #[tenant(generated)] pub id: Uuid,
    pub notebook_id: Option<Uuid>,
}

fn main() {}
