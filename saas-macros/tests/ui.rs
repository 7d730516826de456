//! Compile tests of `#[derive(TenantScoped)]`: models that must compile (and whose generated
//! metadata is checked at run time), and mistakes whose errors are pinned in `.stderr` files.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p saas-macros --test ui`
//! and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
