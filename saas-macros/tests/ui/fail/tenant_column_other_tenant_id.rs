// A type that is merely *named* `TenantId` passes the syntactic check and is caught by the
// generated type assertion.
use saas_core::prelude::{TenantScoped, Uuid};

mod mine {
    #[derive(Debug, Clone, Copy, sqlx::Type)]
    #[sqlx(transparent)]
    pub struct TenantId(pub uuid::Uuid);
}

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "projects")]
pub struct Project {
    pub tenant_id: mine::TenantId,
    #[tenant(generated)] pub id: Uuid,
}

fn main() {}
