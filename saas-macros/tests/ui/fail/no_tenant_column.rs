use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "projects")]
pub struct Project {
    #[tenant(generated)] pub id: Uuid,
    pub name: String,
}

fn main() {}
