use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "projects")]
pub struct Project {
    #[tenant(generated)]
    pub tenant_id: TenantId,
    #[tenant(generated)] pub id: Uuid,
}

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "tenants_settings", key = "tenant_id")]
pub struct Settings {
    pub tenant_id: TenantId,
    pub theme: String,
}

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "notes")]
pub struct Note {
    #[tenant(tenant, key)]
    pub org: TenantId,
    pub body: String,
}

fn main() {}
