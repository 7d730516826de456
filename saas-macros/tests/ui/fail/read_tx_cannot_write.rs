// A `ReadTx` runs in a READ ONLY transaction (possibly on a replica): writing through it is a
// compile error, not a failure at run time.
use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "notes")]
pub struct Note {
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub id: Uuid,
    pub body: String,
}

async fn sneak_a_write(mut tx: ReadTx) -> ApiResult<Note> {
    Note::insert(&mut tx, NewNote { body: "no".into() }).await
}

fn main() {
    let _ = sneak_a_write;
}
