//! Derive and attribute macros of the multi-tenant SaaS framework. Use them through
//! `saas_core`, which re-exports them (`use saas_core::prelude::*;`); the generated code refers
//! to `saas_core::__private` only.
//!
//! This crate is a thin shell: each entry point forwards its tokens to a module of plain
//! functions over `syn` types, which unit tests call directly. Start with `tenant_scoped/mod.rs`
//! for the derive, and `versioning/mod.rs` for the API-versioning macros (`api_versions!`,
//! `#[endpoint]`, `routes!`, `#[version_change]`).

#![warn(missing_docs)]

mod api_versions;
mod ctxt;
mod domain_event;
mod endpoint;
mod routes;
mod tenant_scoped;
mod version_change;
mod versioning;

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

/// Implements `saas_core::events::DomainEvent`: the event's type name, its schema version
/// (default 1) and where its aggregate id is.
///
/// ```
/// use saas_core::events::DomainEvent;
/// use saas_core::prelude::*;
///
/// #[derive(DomainEvent, serde::Serialize)]
/// #[event(name = "project.renamed", version = 2)]
/// struct ProjectRenamed {
///     #[event(aggregate)] // or: a field named `id`, or `#[event(aggregate = "0.id")]`
///     project: Uuid,
///     name: String,
/// }
///
/// let id = Uuid::new_v4();
/// let event = ProjectRenamed { project: id, name: "Plan".into() };
/// assert_eq!(ProjectRenamed::TYPE, "project.renamed");
/// assert_eq!(ProjectRenamed::VERSION, 2);
/// assert_eq!(event.aggregate_id(), id);
/// ```
///
/// Names are dotted lowercase words (`<aggregate>.<verb>`), usable as NATS subject tokens:
///
/// ```compile_fail
/// #[derive(saas_core::events::DomainEvent, serde::Serialize)]
/// #[event(name = "Project Created")] // error: not an event name
/// struct ProjectCreated { id: uuid::Uuid }
/// ```
#[proc_macro_derive(DomainEvent, attributes(event))]
pub fn derive_domain_event(input: TokenStream) -> TokenStream {
    domain_event::derive(input.into()).into()
}

/// Declares the versions of an API and their lifecycles, as a `saas_core::versioning::VersionSet`
/// constant.
///
/// ```
/// saas_core::api_versions! {
///     /// The versions of the API, oldest first.
///     pub const VERSIONS = {
///         1 => deprecated(
///             since = "2026-01-01",
///             sunset = "2027-06-30",
///             docs = "https://example.com/api/v1-retirement",
///         ),
///         2 => current,
///     };
/// }
///
/// let v1 = &VERSIONS.versions[0];
/// assert_eq!(v1.deprecated, Some(1_767_225_600)); // 2026-01-01T00:00:00Z, in unix seconds
/// assert_eq!(v1.sunset, Some(1_814_313_600));
/// assert_eq!(VERSIONS.newest(), Some(saas_core::versioning::ApiVersion::Int(2)));
/// ```
///
/// # Syntax
///
/// ```text
/// [crate = "my_core";]          // when saas_core is renamed
/// #[attributes] vis const NAME = {
///     VERSION => LIFECYCLE,
///     ...
/// };
/// ```
///
/// - **`VERSION`** is an integer literal (`1`, served under `/v1`) or a date string
///   (`"2026-01-15"`, served under `/2026-01-15`); one API uses one kind. Versions are listed
///   oldest first, each strictly newer than the one before.
/// - **`LIFECYCLE`** is `current`, or `deprecated(since = DATE, sunset = DATE, docs = "url")`
///   with `sunset` and `docs` optional. A `DATE` is `"YYYY-MM-DD"` (midnight UTC) or an RFC 3339
///   timestamp with `Z` or an offset (`"2026-01-01T09:00:00+01:00"`). Clients of a deprecated
///   version get `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and `Link: <docs>;
///   rel="deprecation"` headers, and 410 Gone after the sunset.
/// - Attributes (doc comments included) and the visibility go to the constant.
///
/// Instants are converted to unix seconds at expansion time.
///
/// # Errors
///
/// All reported in one build, each on the offending token with a `help:` line: an unparsable
/// date, a sunset earlier than `since` (RFC 9745 §4), versions out of order or repeated,
/// integers and dates mixed, no version at all, an unknown lifecycle or key, a repeated key, and
/// a deprecated newest version (the newest version must be `current`). The constant is still
/// defined, with its valid versions, so its uses add no errors.
///
/// ```compile_fail
/// saas_core::api_versions! {
///     pub const VERSIONS = {
///         1 => current,
///         2 => deprecated(since = "2026-01-01"), // error: the newest version, 2, is deprecated
///     };
/// }
/// ```
#[proc_macro]
pub fn api_versions(input: TokenStream) -> TokenStream {
    api_versions::api_versions(input.into()).into()
}

/// Declares an `async fn` handler as an endpoint of a versioned API: its method, path, the
/// versions it lives in, and its OpenAPI operation (read from the handler's types; utoipa's
/// public traits only).
///
/// ```
/// use saas_core::endpoint;
/// use saas_core::http::{Json, Path};
/// use saas_core::prelude::*;
///
/// #[derive(serde::Serialize, utoipa::ToSchema)]
/// pub struct ProjectBody {
///     pub id: Uuid,
///     pub name: String,
/// }
///
/// /// One project.
/// #[endpoint(get, "/projects/{id}", versions = 2.., tag = "projects",
///            responses((status = 200, body = ProjectBody)))]
/// async fn get_project(Path(id): Path<Uuid>) -> ApiResult<Json<ProjectBody>> {
///     Ok(Json(ProjectBody { id, name: "Docs".into() }))
/// }
///
/// /// The old listing: version 1 only, deprecated on its own, replaced in version 2.
/// #[endpoint(get, "/projects", versions = 1,
///            deprecated(since = "2026-01-01", sunset = "2027-06-30"),
///            successor(version = 2, path = "/boards/{id}/projects"),
///            responses((status = 200, body = [ProjectBody])))]
/// async fn list_projects_v1() -> ApiResult<Json<Vec<ProjectBody>>> {
///     Ok(Json(Vec::new()))
/// }
///
/// // Generated: a marker type `routes!` lists, with the declaration...
/// use saas_core::versioning::{ApiVersion, Endpoint};
/// let decl = <__endpoint_get_project as Endpoint>::DECL;
/// assert_eq!((decl.method, decl.path), ("GET", "/projects/{id}"));
/// assert_eq!((decl.introduced, decl.removed), (ApiVersion::Int(2), None));
/// let old = <__endpoint_list_projects_v1 as Endpoint>::DECL;
/// assert_eq!(old.removed, Some(ApiVersion::Int(2)));
/// assert_eq!(old.deprecated, Some(1_767_225_600));
/// // ...and the OpenAPI operation, from the signature and the attribute.
/// let operation = <__endpoint_get_project as Endpoint>::operation();
/// assert!(operation.responses.responses.contains_key("200"));
/// assert_eq!(operation.summary.as_deref(), Some("One project."));
/// ```
///
/// # Syntax
///
/// `#[endpoint(METHOD, "PATH", versions = RANGE, KEYS...)]`
///
/// - **`METHOD`**: `get`, `post`, `put`, `patch` or `delete`, first.
/// - **`"PATH"`**: the path template in axum syntax (`/projects/{id}`), second, starting with
///   `/`, without the version prefix (the framework mounts it under `/v2`, `/2026-01-15`...).
/// - **`versions = RANGE`** (required): `A..` (from A on), `A..B` (A up to but excluding B),
///   `A..=B` (A through B) or `A` (only A). `A` and `B` are integer literals or date strings,
///   like the keys of [`api_versions!`]. The range must hold at least one version.
/// - **`deprecated(since = DATE, sunset = DATE, docs = "url")`**: deprecates this endpoint in
///   every version it lives in, overriding the version's lifecycle; same syntax as in
///   [`api_versions!`].
/// - **`successor = 2`** or **`successor(version = 2, path = "/new/{id}")`**: where clients
///   should go (advertised in a `Link: <..>; rel="successor-version"` header). The version must
///   be newer than the endpoint's first.
/// - **`crate = "my_core"`**: the path of `saas_core` when the dependency is renamed.
/// - **The OpenAPI operation**, only for what the handler's types cannot say (the signature
///   gives the rest: `-> ApiResult<Json<T>>` is a 200 with body `T`, `Json<T>` the request body,
///   `Path<..>` the path's parameters, `Query<Q>` the `IntoParams` of `Q`; a declaration that
///   contradicts the signature is an error):
///   - `tag = "x"`, `tags = ["x", "y"]`, `operation_id = "x"` (default: the function's name),
///     `summary = ".."`, `description = ".."` (default: the doc comment's first paragraph and
///     the rest);
///   - `params(("id" = Uuid, Path, description = ".."), PageQuery)`: one tuple per parameter
///     (`Path`, `Query`, `Header` or `Cookie`; an `Option<T>` is not required) or an
///     `IntoParams` type;
///   - `request_body = T` or `request_body(content = T, description = "..", content_type = "..")`;
///   - `responses((status = 201, description = "..", body = T, content_type = ".."), ..)`:
///     `status` a code, a range (`"4XX"`) or `"default"`; `body = [T]` for a list,
///     `inline(T)` to write `T`'s schema in place; or an `IntoResponses` type.
///
///   `path`, `impl_for`, `context_path` and `security` are refused; other keys are unknown.
///
/// # What is generated
///
/// The function as written, and `__endpoint_<fn>`, a unit struct with the function's
/// visibility implementing `saas_core::versioning::Endpoint`: the `EndpointDecl` constant, the
/// axum `MethodRouter` (`axum::routing::get(<fn>)`), and the operation and its schemas, built
/// through utoipa's public `ToSchema`/`IntoParams`/`IntoResponses` traits (no `utoipa::path`,
/// no `utoipa::__dev`): a body type without `ToSchema` is one error naming it. Whether the
/// versions are declared is checked where the endpoint is listed, by [`routes!`].
///
/// # Errors
///
/// All reported in one build, each with a `help:` line: a missing or unknown method, a missing
/// path or one not starting with `/`, a missing `versions`, an empty range (`3..2`, `2..2`,
/// `2..=1`), unparsable versions or dates, a sunset before `since`, a successor not newer than
/// the first version, repeated or refused keys, and a function that is not `async`. The
/// function and its marker type are still emitted, so the rest of the crate adds no errors.
///
/// ```compile_fail
/// use saas_core::endpoint;
///
/// #[endpoint(get, "/health", versions = 3..2)] // error: the range `3..2` holds no version
/// async fn health() -> &'static str {
///     "ok"
/// }
/// ```
#[proc_macro_attribute]
pub fn endpoint(args: TokenStream, item: TokenStream) -> TokenStream {
    endpoint::endpoint(args.into(), item.into()).into()
}

/// The versioned API of an application: its versions and its `#[endpoint]` handlers, checked
/// against each other at compile time. Evaluates to a `saas_core::versioning::Api`.
///
/// ```
/// use saas_core::prelude::*;
/// use saas_core::{api_versions, endpoint, routes};
///
/// api_versions! {
///     pub const VERSIONS = { 1 => current, 2 => current };
/// }
///
/// mod projects {
///     use saas_core::endpoint;
///
///     #[endpoint(get, "/projects", versions = 1..2)]
///     pub async fn list_v1() -> &'static str {
///         "[]"
///     }
///
///     #[endpoint(get, "/projects", versions = 2..)]
///     pub async fn list() -> &'static str {
///         "{\"items\": []}"
///     }
/// }
///
/// #[endpoint(get, "/health", versions = 1..)]
/// async fn health() -> &'static str {
///     "ok"
/// }
///
/// let api = routes!(VERSIONS; health, projects::list_v1, projects::list);
/// assert_eq!(api.endpoints.len(), 3);
/// ```
///
/// # Syntax
///
/// `routes!([crate = "my_core";] VERSIONS; handler, module::handler, ...)`: the constant
/// declared by [`api_versions!`], then the handlers by path (a trailing comma is fine). The
/// handler `module::handler` stands for its marker type `module::__endpoint_handler`.
///
/// # Checks
///
/// At compile time, as constant evaluation: every endpoint is introduced in a declared version
/// and lives in at least one; a successor names a declared version that is not sunset and is
/// newer than the endpoint's first; and no two endpoints serve the same method and path in a
/// common version. A failing check is an "evaluation of constant value failed" error pointing
/// at the handler's name in the list, with the problem as its message. An empty list and a
/// handler listed twice are errors too.
///
/// ```compile_fail
/// use saas_core::{api_versions, endpoint, routes};
///
/// api_versions! { pub const VERSIONS = { 1 => current, 2 => current } }
///
/// #[endpoint(get, "/projects", versions = 1..)]
/// async fn list_v1() -> &'static str { "[]" }
///
/// #[endpoint(get, "/projects", versions = 2..)]
/// async fn list() -> &'static str { "[]" }
///
/// // error: endpoints `list_v1` and `list` serve the same method and path in overlapping versions
/// let api = routes!(VERSIONS; list_v1, list);
/// ```
#[proc_macro]
pub fn routes(input: TokenStream) -> TokenStream {
    routes::routes(input.into()).into()
}

/// Registers a conversion between two shapes of one schema, which the versioned router applies
/// to JSON bodies of older versions.
///
/// ```
/// use saas_core::version_change;
/// use saas_core::versioning::{ApiVersion, VersionChange};
///
/// #[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
/// pub struct TaskBody {
///     pub title: String,
///     pub labels: Vec<String>,
/// }
///
/// /// Version 1 of a task: no labels.
/// #[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
/// pub struct TaskV1 {
///     pub title: String,
/// }
///
/// /// Responses to version-1 clients drop the labels.
/// #[version_change(from = 2, to = 1)]
/// fn task_to_v1(task: TaskBody) -> TaskV1 {
///     TaskV1 { title: task.title }
/// }
///
/// // The function is kept...
/// assert_eq!(task_to_v1(TaskBody { title: "a".into(), labels: vec![] }).title, "a");
/// // ...and registered, with both schemas and a conversion on JSON values.
/// let change = saas_core::__private::inventory::iter::<VersionChange>
///     .into_iter()
///     .find(|c| c.from == ApiVersion::Int(2) && c.to == ApiVersion::Int(1))
///     .unwrap();
/// assert_eq!((change.input)().0, "TaskBody");
/// assert_eq!((change.output)().0, "TaskV1");
/// let old = (change.apply)(serde_json::json!({ "title": "a", "labels": ["x"] }));
/// assert_eq!(old, Ok(serde_json::json!({ "title": "a" })));
/// ```
///
/// # Syntax
///
/// `#[version_change(from = V, to = V, crate = "my_core")]` on a plain `fn(In) -> Out`, where
/// `In` and `Out` implement `serde::Deserialize`/`Serialize` and `utoipa::ToSchema`; versions
/// are written as in [`api_versions!`].
///
/// `from > to` is a *response* change: the current handler's output (`In`) becomes the older
/// shape `Out` for clients of versions `<= to`. `from < to` is a *request* change: an older
/// client's body (`In`) becomes the newer shape `Out` before the handler sees it, for versions
/// `<= from`. A JSON value that does not deserialize as `In` is the client's error (422).
///
/// # Errors
///
/// `from == to`, integers and dates mixed, a bad or missing version, an unknown or repeated
/// key, an `async` or generic function, a `self` receiver, other than exactly one argument, and
/// no return type; all in one build. The function is kept either way.
///
/// ```compile_fail
/// use saas_core::version_change;
///
/// #[version_change(from = 2, to = 2)] // error: `from` and `to` are the same version, 2
/// fn same(task: String) -> String {
///     task
/// }
/// ```
#[proc_macro_attribute]
pub fn version_change(args: TokenStream, item: TokenStream) -> TokenStream {
    version_change::version_change(args.into(), item.into()).into()
}

mod testkit_test;

/// `#[saas_testkit::test]`: use it through `saas_testkit` (which re-exports it). Wraps an
/// `async fn name(env: TestEnv)` in a multi-threaded `#[tokio::test]` and builds the
/// environment first. Keys: `migrations = PATH` (a `sqlx::migrate::Migrator` static) and
/// `isolation = "tenant"` (default: fresh tenants in a database shared by the process) or
/// `"database"` (a database cloned from the template).
#[proc_macro_attribute]
pub fn testkit_test(args: TokenStream, item: TokenStream) -> TokenStream {
    testkit_test::expand(args.into(), item.into()).into()
}
