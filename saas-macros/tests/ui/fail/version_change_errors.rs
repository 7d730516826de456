// Every mistake of a version change, each on its own function.
use saas_core::version_change;

pub struct A;
pub struct B;

#[version_change(from = 2, to = 2)]
fn same_version(a: A) -> B {
    let _ = a;
    B
}

#[version_change(from = "v2", to = 1.5)]
fn bad_literals(a: A) -> B {
    let _ = a;
    B
}

#[version_change(from = 2, to = 1)]
async fn is_async(a: A) -> B {
    let _ = a;
    B
}

#[version_change(from = 2, to = 1)]
fn two_arguments(a: A, b: B) -> B {
    let _ = a;
    b
}

#[version_change(from = 2, to = 1)]
fn no_return_type(a: A) {
    let _ = a;
}

pub struct S;

impl S {
    #[version_change(from = 2, to = 1)]
    fn with_self(&self) -> B {
        B
    }
}

#[version_change(to = 1, colour = "red")]
fn missing_from(a: A) -> B {
    let _ = a;
    B
}

fn main() {}
