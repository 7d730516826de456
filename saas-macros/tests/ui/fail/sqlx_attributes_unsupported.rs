use saas_core::prelude::*;

#[derive(Default)]
pub struct Audit {
    pub by: String,
}

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "projects")]
#[sqlx(rename_all = "camelCase")]
pub struct Project {
    pub tenant_id: TenantId,
    #[tenant(generated)] pub id: Uuid,
    #[sqlx(skip)]
    pub audit: Audit,
}

fn main() {}
