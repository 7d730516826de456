use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "projects", key = "uuid")]
pub struct Project {
    pub tenant_id: TenantId,
    pub id: Uuid,
}

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "memberships", key(org_id, user))]
pub struct Membership {
    pub tenant_id: TenantId,
    pub org_id: Uuid,
    pub user_id: Uuid,
}

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "logs")]
pub struct Log {
    pub tenant_id: TenantId,
    pub seq: i64,
}

fn main() {}
