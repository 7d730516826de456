// One input, five mistakes: all of them are reported in the same build.
use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(key = "uuid", parent(owner -> Project), colour = "red")]
pub struct Project {
    pub tenant_id: String,
    pub id: Uuid,
}

fn main() {}
