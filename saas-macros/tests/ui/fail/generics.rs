use saas_core::prelude::*;

#[derive(TenantScoped)]
#[tenant(table = "boxes")]
pub struct Boxed<T> {
    pub tenant_id: TenantId,
    #[tenant(generated)] pub id: Uuid,
    pub value: T,
}

#[derive(TenantScoped)]
#[tenant(table = "names")]
pub struct Named<'a> {
    pub tenant_id: TenantId,
    #[tenant(generated)] pub id: Uuid,
    pub name: &'a str,
}

fn main() {}
