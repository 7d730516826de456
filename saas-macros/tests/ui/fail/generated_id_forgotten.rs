// `id` has a database default but is not marked `#[tenant(generated)]`, so `NewNote` needs it.
use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "notes")]
pub struct Note {
    pub tenant_id: TenantId,
    pub id: Uuid,
    pub body: String,
}

fn main() {
    let _ = NewNote {
        body: String::new(),
    };
}
