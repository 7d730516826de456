//! Copying a tenant's rows between two locations and checking that both sides agree.

use futures_util::StreamExt;
use sqlx::{Connection, PgConnection};

use super::site::{Names, Site, connect, require_tables, table_exists};
use super::{MoveEvent, MoveOptions, TableCheck};
use crate::error::{ApiError, ApiResult};
use crate::model::{ModelMeta, registered_models};
use crate::sql::quote_ident as ddl_quote_ident;
use crate::tenancy::placement::Location;
use crate::tenancy::pool::Tenancy;
use crate::tenancy::{TENANT_SETTING, TenantId};

/// The tables a move copies: every model's, plus the event tables when the database changes;
/// parents before children.
pub fn tables_to_copy(from: &Location, to: &Location) -> Vec<&'static ModelMeta> {
    let models: Vec<&'static ModelMeta> = registered_models()
        .into_iter()
        .filter(|m| !from.same_database(to) || !crate::events::schema::is_event_table(m.table))
        .collect();
    let mut ordered: Vec<&'static ModelMeta> = Vec::new();
    fn visit(
        model: &'static ModelMeta,
        all: &[&'static ModelMeta],
        ordered: &mut Vec<&'static ModelMeta>,
        depth: usize,
    ) {
        if depth > all.len() || ordered.iter().any(|m| m.table == model.table) {
            return;
        }
        for parent in model.parents {
            let parent = (parent.parent)();
            if all.iter().any(|m| m.table == parent.table) {
                visit(parent, all, ordered, depth + 1);
            }
        }
        if !ordered.iter().any(|m| m.table == model.table) {
            ordered.push(model);
        }
    }
    for model in &models {
        visit(model, &models, &mut ordered, 0);
    }
    ordered
}

/// The columns a copy writes: every column except `GENERATED ALWAYS` ones (identities the
/// target numbers afresh, in the source's order; stored generated columns), and the
/// identity column to order by, if any.
pub(super) async fn copy_columns(
    conn: &mut PgConnection,
    qualified: &str,
) -> ApiResult<(Vec<String>, Option<String>)> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT a.attname::text, a.attidentity::text, a.attgenerated::text
           FROM pg_attribute a
          WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum",
    )
    .bind(qualified)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "table {qualified} is missing"
        )));
    }
    let mut columns = Vec::new();
    let mut order = None;
    for (name, identity, generated) in rows {
        if identity == "a" {
            order = Some(name);
        } else if generated.is_empty() {
            columns.push(name);
        }
    }
    Ok((columns, order))
}

pub(super) fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| ddl_quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sets the tenant context (and lets the audit log's rows be removed) inside a move's
/// transaction: the owner is subject to forced row-level security like anyone else.
/// `SET LOCAL`, not `set_config`: on a Citus coordinator only `SET LOCAL` (propagated) reaches
/// the workers, where the rows and the policies are; the `citus.*` settings are inert
/// elsewhere.
pub(super) async fn as_tenant(conn: &mut PgConnection, id: TenantId) -> ApiResult<()> {
    // The id is a formatted UUID, never client text.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET LOCAL citus.propagate_set_commands = 'local';
         SET LOCAL citus.enable_unsafe_triggers = on;
         SET LOCAL {TENANT_SETTING} = '{id}';
         SET LOCAL saas.audit_purge = 'on'"
    )))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes the tenant's rows from `tables` at `site` (children first), inside the caller's
/// transaction. A table that does not exist there is skipped: never resolved elsewhere.
pub(super) async fn delete_rows(
    conn: &mut PgConnection,
    names: &Names,
    id: TenantId,
    tables: &[&'static ModelMeta],
) -> ApiResult<()> {
    for model in tables.iter().rev() {
        let table = names.table(model.table);
        if !table_exists(conn, &table).await? {
            continue;
        }
        let sql = format!(
            "DELETE FROM {table} WHERE {} = $1",
            ddl_quote_ident(model.tenant_column)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub(super) async fn copy(
    tenancy: &Tenancy,
    id: TenantId,
    from: &Location,
    to: &Location,
    options: &MoveOptions,
) -> ApiResult<()> {
    let tables = tables_to_copy(from, to);
    let mut source = connect(tenancy, from).await?;
    let mut target = connect(tenancy, to).await?;
    require_tables(&mut target, &tables).await?;
    let (source_names, target_names) = (source.names.clone(), target.names.clone());
    let mut read = source.conn.begin().await?;
    as_tenant(&mut read, id).await?;
    let mut write = target.conn.begin().await?;
    as_tenant(&mut write, id).await?;
    delete_rows(&mut write, &target_names, id, &tables).await?;
    for (done, model) in tables.iter().enumerate() {
        let from_table = source_names.table(model.table);
        let table = target_names.table(model.table);
        let (columns, order) = copy_columns(&mut read, &from_table).await?;
        let list = column_list(&columns);
        let tenant_column = ddl_quote_ident(model.tenant_column);
        let order_by = order
            .map(|c| format!(" ORDER BY {}", ddl_quote_ident(&c)))
            .unwrap_or_default();
        let out = format!(
            "COPY (SELECT {list} FROM {from_table} WHERE {tenant_column} = '{id}'{order_by}) TO STDOUT (FORMAT binary)"
        );
        let into = format!("COPY {table} ({list}) FROM STDIN (FORMAT binary)");
        let mut sink = write.copy_in_raw(&into).await?;
        let mut stream = read.copy_out_raw(&out).await?;
        let mut failure = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    if let Err(err) = sink.send(&bytes[..]).await {
                        failure = Some(err);
                        break;
                    }
                }
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        drop(stream);
        if let Some(err) = failure {
            sink.abort("the source copy failed").await.ok();
            return Err(err.into());
        }
        let rows = sink.finish().await?;
        // Serial and identity-by-default columns: keep the target's sequences ahead of the
        // copied values (never behind where they were).
        for column in &columns {
            let sequence: Option<String> =
                sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
                    .bind(&table)
                    .bind(column)
                    .fetch_one(&mut *write)
                    .await?;
            if let Some(sequence) = sequence {
                let sql = format!(
                    "SELECT setval($1::regclass, GREATEST(COALESCE((SELECT max({}) FROM {table}), 1),
                                                      COALESCE(pg_sequence_last_value($1::regclass), 1)))",
                    ddl_quote_ident(column)
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(sequence)
                    .execute(&mut *write)
                    .await?;
            }
        }
        if model.table == crate::events::schema::OUTBOX_TABLE {
            // Held until the hand-off after the switch: until then the source's relay
            // publishes the tenant's pending events, and the target's must not.
            let sql = format!("UPDATE {table} SET available_at = 'infinity' WHERE tenant_id = $1");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .execute(&mut *write)
                .await?;
        }
        options.emit(MoveEvent::Table {
            table: model.table.to_string(),
            rows,
            done: done + 1,
            total: tables.len(),
        });
    }
    write.commit().await?;
    read.rollback().await.ok();
    source.close().await;
    target.close().await;
    Ok(())
}

pub(super) async fn checks(
    site: &mut Site,
    id: TenantId,
    tables: &[&'static ModelMeta],
    columns: &[Vec<String>],
) -> ApiResult<Vec<TableCheck>> {
    let names = site.names.clone();
    let mut tx = site.conn.begin().await?;
    as_tenant(&mut tx, id).await?;
    let mut out = Vec::new();
    for (model, columns) in tables.iter().zip(columns) {
        let row = format!("md5(ROW({})::text)", column_list(columns));
        let sql = format!(
            "SELECT count(*), COALESCE(md5(string_agg({row}, '' ORDER BY {row})), '')
               FROM {} WHERE {} = $1",
            names.table(model.table),
            ddl_quote_ident(model.tenant_column)
        );
        let (rows, checksum): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        out.push(TableCheck {
            table: model.table.to_string(),
            rows,
            checksum,
        });
    }
    tx.rollback().await.ok();
    Ok(out)
}

/// Per-table counts and checksums on both sides; any difference fails the move.
pub(super) async fn verify(
    tenancy: &Tenancy,
    id: TenantId,
    from: &Location,
    to: &Location,
) -> ApiResult<Vec<TableCheck>> {
    // The outbox is a queue that the relays drain while the move runs: it is handed over
    // after the switch instead (see `hand_off_outbox`).
    let tables: Vec<&'static ModelMeta> = tables_to_copy(from, to)
        .into_iter()
        .filter(|m| m.table != crate::events::schema::OUTBOX_TABLE)
        .collect();
    let mut source = connect(tenancy, from).await?;
    let mut target = connect(tenancy, to).await?;
    require_tables(&mut target, &tables).await?;
    // The source's columns, compared on both sides.
    let mut columns = Vec::new();
    for model in &tables {
        let table = source.names.table(model.table);
        columns.push(copy_columns(&mut source.conn, &table).await?.0);
    }
    let expected = checks(&mut source, id, &tables, &columns).await?;
    let actual = checks(&mut target, id, &tables, &columns).await?;
    source.close().await;
    target.close().await;
    for (want, got) in expected.iter().zip(&actual) {
        if want != got {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "move verification failed for table {}: source has {} rows ({}), target {} rows ({})",
                want.table,
                want.rows,
                want.checksum,
                got.rows,
                got.checksum
            )));
        }
    }
    Ok(expected)
}
