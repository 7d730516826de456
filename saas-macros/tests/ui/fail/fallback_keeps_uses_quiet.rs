// The table is missing: that is the only error, although the model is used below as if the
// derive had succeeded (the derive emits a stub impl and the insert struct).
use saas_core::prelude::*;

#[derive(TenantScoped, sqlx::FromRow)]
pub struct Project {
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub id: Uuid,
    pub name: String,
}

pub async fn create(tx: &mut impl TenantWriter) -> ApiResult<Project> {
    let project = Project::insert(tx, NewProject { name: "x".into() }).await?;
    Project::get(tx, project.id).await
}

fn main() {}
