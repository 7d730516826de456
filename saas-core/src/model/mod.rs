//! Tenant-scoped models: the trait that `#[derive(TenantScoped)]` implements and the typed,
//! tenant-filtered operations every model gets.
//!
//! Every generated statement filters on the tenant column *and* runs with the tenant context
//! set, so row-level security is the net under the query, not the only wall (tenancy invariant 4, docs/src/tenancy.md).
//! The SQL text is built by the derive at compile time; this module only binds and runs it.

mod citus;
mod ddl;
#[cfg(test)]
mod fixtures;
mod key;
mod page;

use std::future::Future;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{FromRow, Postgres};

pub use citus::{
    DEDICATED_STRATEGY, SHARD_OPERATION_LOCK, citus_ddl, citus_present_sql, dedicated_strategy_ddl,
};
pub use ddl::{
    ACCESS_POLICY_NAME, OWNER_WIDE_TABLES, POLICY_NAME, owner_wide, policy_predicate, rls_ddl,
    table_ddl_statements, tenant_policy_expression,
};
pub use key::{KeyPart, ModelKey};
pub use page::{Cursor, DEFAULT_LIMIT, MAX_LIMIT, Page, PageQuery, PageRequest};

use crate::error::{ApiError, ApiResult};
use crate::tenancy::{Access, TenantExecutor, TenantWriter};

/// A prepared statement with its arguments, as the generated binders receive it.
pub type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// Static description of a tenant-scoped table, produced by `#[derive(TenantScoped)]`.
#[derive(Debug)]
pub struct ModelMeta {
    /// The Rust type name, used in error messages (`Project not found`).
    pub type_name: &'static str,
    /// The table, unqualified (it is resolved through the tenant's `search_path`).
    pub table: &'static str,
    /// The column holding the tenant id (`tenant_id` by default).
    pub tenant_column: &'static str,
    /// Key columns, without the tenant column. The primary key is `(tenant, key...)`.
    pub key_columns: &'static [&'static str],
    /// Every column, in field order (tenant and key columns included).
    pub columns: &'static [&'static str],
    /// Columns filled by the database (defaults) and never written by the framework.
    pub generated_columns: &'static [&'static str],
    /// Composite foreign keys `(tenant, columns...) -> parent (tenant, key...)`.
    pub parents: &'static [ParentMeta],
    /// The statements behind the typed operations.
    pub sql: ModelSql,
}

/// A composite foreign key to a parent model.
#[derive(Debug)]
pub struct ParentMeta {
    /// The referencing columns (without the tenant column), in the order of the parent's key.
    pub columns: &'static [&'static str],
    /// The parent's metadata.
    pub parent: fn() -> &'static ModelMeta,
    /// `... WHERE tenant = $1 AND cols = $2.. ORDER BY key LIMIT $n` (first page).
    pub list_first: &'static str,
    /// Same, after a cursor: key values follow the column values, then the limit.
    pub list_after: &'static str,
}

/// The SQL behind the typed operations of one model (see the derive's documentation for the
/// parameter order of each statement).
#[derive(Debug)]
pub struct ModelSql {
    /// `SELECT cols FROM t WHERE tenant = $1 AND key = $2..`
    pub get: &'static str,
    /// `SELECT cols FROM t WHERE tenant = $1 ORDER BY key LIMIT $2`
    pub list_first: &'static str,
    /// `SELECT cols FROM t WHERE tenant = $1 AND (key) > ($2..) ORDER BY key LIMIT $n`
    pub list_after: &'static str,
    /// `INSERT INTO t (tenant, cols..) VALUES ($1, ..) RETURNING cols`
    pub insert: &'static str,
    /// `UPDATE t SET col = $n.. WHERE tenant = $1 AND key = $2.. RETURNING cols`
    pub update: &'static str,
    /// `DELETE FROM t WHERE tenant = $1 AND key = $2..`
    pub delete: &'static str,
}

impl ModelSql {
    /// No typed operations, for tables whose statements are written elsewhere (the framework's
    /// own event tables, test fixtures of the DDL).
    pub const NONE: ModelSql = ModelSql {
        get: "",
        list_first: "",
        list_after: "",
        insert: "",
        update: "",
        delete: "",
    };
}

/// A model registered by the derive, found by the migrator and the isolation audit without
/// the application listing its models.
#[derive(Debug)]
pub struct ModelRegistration(pub fn() -> &'static ModelMeta);

inventory::collect!(ModelRegistration);

/// Every model registered in this binary, sorted by table name so parents and children are
/// processed in a stable order.
pub fn registered_models() -> Vec<&'static ModelMeta> {
    let mut models: Vec<&'static ModelMeta> = inventory::iter::<ModelRegistration>
        .into_iter()
        .map(|r| (r.0)())
        .collect();
    models.sort_by_key(|m| m.table);
    models.dedup_by_key(|m| m.table);
    models
}

/// A type PostgreSQL rows are read into: every `sqlx::FromRow` type. A supertrait of
/// [`TenantScoped`] of its own (rather than `FromRow` itself) so that a model that forgets
/// `sqlx::FromRow` gets an error saying so, not one about a sealed trait.
#[diagnostic::on_unimplemented(
    message = "`{Self}` derives `TenantScoped` but not `sqlx::FromRow`",
    label = "add `sqlx::FromRow` to the derives of `{Self}`",
    note = "write `#[derive(TenantScoped, sqlx::FromRow)]`: the framework reads rows into the model through it"
)]
pub trait FromPgRow: Sized {
    /// The row as this type.
    fn from_pg_row(row: &PgRow) -> Result<Self, sqlx::Error>;
}

impl<T: for<'r> FromRow<'r, PgRow>> FromPgRow for T {
    fn from_pg_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        T::from_row(row)
    }
}

/// A row type whose table belongs to tenants. Implemented by `#[derive(TenantScoped)]`;
/// never implement it by hand.
pub trait TenantScoped: FromPgRow + Send + Sync + Unpin + Sized + 'static {
    /// The key within a tenant: one type, or a tuple for composite keys.
    type Key: ModelKey;
    /// The fields a caller supplies on insert (no tenant column, no generated columns).
    type New: Send + Sync;

    /// The model's static description.
    fn meta() -> &'static ModelMeta;
    /// This row's key.
    fn key(&self) -> Self::Key;
    /// Binds the insert values, in insert column order, after the tenant id (`$1`).
    fn bind_new<'q>(new: &Self::New, query: PgQuery<'q>) -> PgQuery<'q>;
    /// Binds the updatable columns, in SET order, after the tenant id and the key.
    fn bind_update<'q>(&self, query: PgQuery<'q>) -> PgQuery<'q>;

    /// Fetches one row by key. Absent and another tenant's rows are the same `NotFound`.
    fn get<E: TenantExecutor>(
        tx: &mut E,
        key: Self::Key,
    ) -> impl Future<Output = ApiResult<Self>> + Send {
        async move {
            let tenant = tx.tenant_id();
            let query = key.bind_to(sqlx::query(Self::meta().sql.get).bind(tenant));
            let conn = tx.scoped_conn(Access::Read).await?;
            let row = query.fetch_optional(conn).await?;
            match row {
                Some(row) => Ok(Self::from_pg_row(&row)?),
                None => Err(not_found::<Self>()),
            }
        }
    }

    /// One page of the tenant's rows in key order (keyset pagination).
    fn list<E: TenantExecutor>(
        tx: &mut E,
        page: PageRequest<Self::Key>,
    ) -> impl Future<Output = ApiResult<Page<Self>>> + Send {
        async move {
            let sql = &Self::meta().sql;
            let tenant = tx.tenant_id();
            let fetch = i64::from(page.limit) + 1;
            let query = match &page.after {
                None => sqlx::query(sql.list_first).bind(tenant).bind(fetch),
                Some(after) => after
                    .bind_to(sqlx::query(sql.list_after).bind(tenant))
                    .bind(fetch),
            };
            let conn = tx.scoped_conn(Access::Read).await?;
            let rows = query.fetch_all(conn).await?;
            Page::from_rows(rows, page.limit)
        }
    }

    /// One page of the rows whose composite foreign key points at `parent_key` of the parent
    /// declared at `parent_index` (the order of `parent(...)` attributes).
    #[doc(hidden)]
    fn list_by_parent<E: TenantExecutor, P: ModelKey>(
        tx: &mut E,
        parent_index: usize,
        parent_key: P,
        page: PageRequest<Self::Key>,
    ) -> impl Future<Output = ApiResult<Page<Self>>> + Send {
        async move {
            let parent = &Self::meta().parents[parent_index];
            let tenant = tx.tenant_id();
            let fetch = i64::from(page.limit) + 1;
            let query = parent_key.bind_to(
                sqlx::query(match page.after {
                    None => parent.list_first,
                    Some(_) => parent.list_after,
                })
                .bind(tenant),
            );
            let query = match &page.after {
                None => query.bind(fetch),
                Some(after) => after.bind_to(query).bind(fetch),
            };
            let conn = tx.scoped_conn(Access::Read).await?;
            let rows = query.fetch_all(conn).await?;
            Page::from_rows(rows, page.limit)
        }
    }

    /// Inserts a row for the executor's tenant; the tenant column always comes from the
    /// executor, never from the caller's data.
    fn insert<E: TenantWriter>(
        tx: &mut E,
        new: Self::New,
    ) -> impl Future<Output = ApiResult<Self>> + Send {
        async move {
            let tenant = tx.tenant_id();
            let query = Self::bind_new(&new, sqlx::query(Self::meta().sql.insert).bind(tenant));
            let conn = tx.scoped_conn(Access::Write).await?;
            let row = query.fetch_one(conn).await.map_err(parent_missing)?;
            Ok(Self::from_pg_row(&row)?)
        }
    }

    /// Writes this row's updatable columns back, matched by tenant and key. The tenant column
    /// is never updated, so a row cannot be moved to another tenant.
    fn update<E: TenantWriter>(&self, tx: &mut E) -> impl Future<Output = ApiResult<Self>> + Send {
        async move {
            let tenant = tx.tenant_id();
            let query = self.bind_update(
                self.key()
                    .bind_to(sqlx::query(Self::meta().sql.update).bind(tenant)),
            );
            let conn = tx.scoped_conn(Access::Write).await?;
            match query.fetch_optional(conn).await.map_err(parent_missing)? {
                Some(row) => Ok(Self::from_pg_row(&row)?),
                None => Err(not_found::<Self>()),
            }
        }
    }

    /// Deletes one row by key; `NotFound` when the tenant has no such row.
    fn delete<E: TenantWriter>(
        tx: &mut E,
        key: Self::Key,
    ) -> impl Future<Output = ApiResult<()>> + Send {
        async move {
            let tenant = tx.tenant_id();
            let query = key.bind_to(sqlx::query(Self::meta().sql.delete).bind(tenant));
            let conn = tx.scoped_conn(Access::Write).await?;
            let done = query.execute(conn).await?;
            if done.rows_affected() == 0 {
                Err(not_found::<Self>())
            } else {
                Ok(())
            }
        }
    }
}

fn not_found<T: TenantScoped>() -> ApiError {
    ApiError::NotFound {
        resource: T::meta().type_name,
    }
}

/// A foreign-key violation on insert/update means the parent is absent *for this tenant*
/// (another tenant's parent is invisible): answer it like a missing parent.
fn parent_missing(err: sqlx::Error) -> ApiError {
    let is_fk = err
        .as_database_error()
        .is_some_and(|db| db.code().as_deref() == Some("23503"));
    if is_fk {
        ApiError::NotFound { resource: "parent" }
    } else {
        ApiError::from(err)
    }
}
