// A model without `sqlx::FromRow`: the framework reads rows into the model through it.
use saas_core::prelude::*;

#[derive(TenantScoped)]
#[tenant(table = "notes")]
pub struct Note {
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub id: Uuid,
    pub body: String,
}

fn main() {}
