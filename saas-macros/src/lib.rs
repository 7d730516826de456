//! Derive macros of the multi-tenant SaaS framework. Use them through `saas_core`, which
//! re-exports them (`use saas_core::prelude::*;`); the generated code refers to
//! `saas_core::__private` only.
//!
//! This crate is a thin shell: each entry point forwards its tokens to a module of plain
//! functions over `syn` types (start with `tenant_scoped/mod.rs`), which unit tests call directly.

mod tenant_scoped;

use proc_macro::TokenStream;

/// Implements `saas_core::TenantScoped` for a struct that is one row of a tenant-owned table:
/// typed `get` / `list` / `insert` / `update` / `delete`, each filtered on the tenant column, with
/// the SQL built at compile time.
///
/// ```
/// use saas_core::prelude::*;
///
/// #[derive(TenantScoped, sqlx::FromRow, serde::Serialize)]
/// #[tenant(table = "projects")]
/// pub struct Project {
///     pub tenant_id: TenantId,
///     #[tenant(generated)] // filled by a database default; never written by the framework
///     pub id: Uuid,
///     pub name: String,
///     #[tenant(generated)]
///     pub created_at: OffsetDateTime,
/// }
///
/// #[derive(TenantScoped, sqlx::FromRow)]
/// #[tenant(table = "tasks", parent(project_id -> Project))]
/// pub struct Task {
///     pub tenant_id: TenantId,
///     #[tenant(generated)]
///     pub id: Uuid,
///     pub project_id: Uuid,
///     pub title: String,
/// }
///
/// // Generated: the insert struct, without the tenant column and the generated ones...
/// let new = NewTask { project_id: Uuid::nil(), title: "Write the docs".into() };
/// // ...the metadata the migrator and the isolation audit read...
/// let meta = <Task as TenantScoped>::meta();
/// assert_eq!(meta.parents[0].columns, ["project_id"]);
/// assert_eq!(
///     meta.sql.get,
///     r#"SELECT "tenant_id", "id", "project_id", "title" FROM "tasks" WHERE "tenant_id" = $1 AND "id" = $2"#,
/// );
/// // ...and one lister per parent:
/// async fn first_tasks(tx: &mut impl TenantExecutor, project: Uuid) -> ApiResult<Page<Task>> {
///     Task::list_by_project_id(tx, project, PageRequest::first()).await
/// }
/// # let _ = new;
/// ```
///
/// # What is generated
///
/// - **`New{Model}`**, with the model's visibility: every field except the tenant column and
///   the `generated` ones (key fields that are not generated *are* included), with the same
///   types, field visibility and doc comments. It derives nothing unless asked
///   (`new_derive(..)`). This is `<Model as TenantScoped>::New`, what `insert` takes.
/// - **`impl TenantScoped for Model`**: `Key` is the key field's type, or a tuple of the key
///   fields' types in key order; `meta()` returns a `static` `ModelMeta` whose SQL strings are
///   literals; `key()` clones the key fields.
/// - **A registration** (`inventory`), so the migrator and the isolation audit find the model
///   without the application listing it.
/// - **`list_by_<columns>(tx, value, page)`** for each `parent(..)`: one page, in key order, of
///   the rows that reference one parent. `value` has the referencing field's type (a tuple for a
///   composite foreign key), which must be the parent's `Key` type; this is checked at compile
///   time, so a nullable (`Option`) foreign key cannot be declared as a parent.
///
/// # Struct attributes
///
/// Written `#[tenant(...)]` on the struct; they may be split across several `#[tenant]`
/// attributes. Unknown and repeated keys are errors. Names of columns are *field* names: the
/// column of a field is its name (without `r#`), or its `#[sqlx(rename = "..")]`.
///
/// | key | meaning |
/// | --- | --- |
/// | `table = "projects"` | **Required.** The table, unqualified (it is resolved through the tenant's `search_path`). |
/// | `tenant_column = "org"` | The tenant field. Default: the field named `tenant_id`; or mark a field `#[tenant(tenant)]`. It must have type `TenantId`. |
/// | `key = "id"` / `key(org_id, no)` | The key within a tenant, in this order. Default: the field named `id`; or mark fields `#[tenant(key)]` (field order). At most 4 fields; never the tenant column. |
/// | `parent(project_id -> Project)` | A composite foreign key `(tenant, project_id) REFERENCES parent (tenant, key)`. Repeatable. |
/// | `parent((org_id, project_no) -> Project)` | The same with a composite parent key: the fields in the order of the parent's key. Generates `list_by_org_id_project_no`. |
/// | `new = NewProjectFields` | The name of the insert struct. Default: `New{Model}`. |
/// | `new_derive(Debug, Clone, serde::Deserialize)` | Derives forwarded to the insert struct. |
/// | `crate = "my_core"` | The path of `saas_core` when the dependency is renamed or re-exported; the generated code uses `<path>::__private`. |
///
/// # Field attributes
///
/// | attribute | meaning |
/// | --- | --- |
/// | `#[tenant(generated)]` | Filled by the database (a default, a sequence, a trigger): left out of `New{Model}`, never inserted or updated. The tenant column cannot be generated. |
/// | `#[tenant(key)]` | Part of the key (instead of the struct's `key = ..`). |
/// | `#[tenant(tenant)]` | The tenant column (instead of the struct's `tenant_column = ..`). |
/// | `#[sqlx(rename = "kind")]` | Honoured: the column is `kind`. |
/// | `#[sqlx(json)]`, `#[sqlx(json(nullable))]` | Honoured: the value is bound as JSON (`None` as SQL `NULL`). |
///
/// `#[sqlx(flatten)]` and `#[sqlx(skip)]` on a field, and `#[sqlx(rename_all = ..)]` on the
/// struct, are refused: every field must be exactly one column, named where it is declared.
/// Generic structs, tuple and unit structs, enums and unions are refused too.
///
/// # The SQL
///
/// Identifiers are double-quoted (a `"` inside is doubled). The tenant id is always `$1`; then
/// the key (or the parent's key) in key order; then values; `LIMIT` is always last. For
/// `Project` above:
///
/// | statement | SQL |
/// | --- | --- |
/// | get | `SELECT "tenant_id", "id", "name", "created_at" FROM "projects" WHERE "tenant_id" = $1 AND "id" = $2` |
/// | list (first page) | `SELECT .. FROM "projects" WHERE "tenant_id" = $1 ORDER BY "id" LIMIT $2` |
/// | list (after a cursor) | `SELECT .. FROM "projects" WHERE "tenant_id" = $1 AND "id" > $2 ORDER BY "id" LIMIT $3` |
/// | insert | `INSERT INTO "projects" ("tenant_id", "name") VALUES ($1, $2) RETURNING ..` |
/// | update | `UPDATE "projects" SET "name" = $3 WHERE "tenant_id" = $1 AND "id" = $2 RETURNING ..` |
/// | delete | `DELETE FROM "projects" WHERE "tenant_id" = $1 AND "id" = $2` |
///
/// A composite key compares as a row: `AND ("org_id", "no") > ($2, $3) ORDER BY "org_id", "no"`.
/// Insert writes every column that is neither the tenant column nor generated, in field order.
/// Update sets every column that is neither tenant, key nor generated, in field order, numbered
/// after the key; **a model with no such column gets the `get` statement as its update**, so
/// `update` re-reads the row (and still answers `NotFound` for a missing one). A parent's
/// listing is `WHERE "tenant_id" = $1 AND "project_id" = $2 [AND <key> > ..] ORDER BY <key>
/// LIMIT $n`.
///
/// # Errors
///
/// Every mistake of one struct is reported in the same build, each on the offending token with
/// a `help:` line; the model still gets a stub implementation, so its uses compile and only the
/// real errors show.
///
/// ```compile_fail
/// use saas_core::prelude::*;
///
/// #[derive(TenantScoped, sqlx::FromRow)]
/// #[tenant(table = "notes")]
/// pub struct Note {
///     pub tenant_id: String, // error: the tenant column `tenant_id` must have type `TenantId`
///     pub id: Uuid,
/// }
/// ```
#[proc_macro_derive(TenantScoped, attributes(tenant))]
pub fn derive_tenant_scoped(input: TokenStream) -> TokenStream {
    tenant_scoped::derive(input.into()).into()
}
