use saas_core::prelude::*;

#[derive(TenantScoped)]
#[tenant(table = "states")]
pub enum State {
    Open,
    Closed,
}

#[derive(TenantScoped)]
#[tenant(table = "bits")]
pub union Bits {
    a: u32,
    b: f32,
}

#[derive(TenantScoped)]
#[tenant(table = "pairs")]
pub struct Pair(TenantId, Uuid);

#[derive(TenantScoped)]
#[tenant(table = "units")]
pub struct Unit;

fn main() {}
