//! The event tables: the outbox, the audit log and the consumers' processed-events ledger.
//!
//! All three are tenant tables like any model's: `(tenant_id, ...)` primary keys, row-level
//! security enabled and forced with the framework's tenant policy, checked by the boot-time
//! isolation audit. They are registered as models so the migrator protects them and the audit
//! checks them; the framework runs its own statements on them, so they have no typed
//! operations.
//!
//! On top of the model protection:
//! - the request role may only *insert* into the outbox (it cannot read, change or delete
//!   pending events of its own tenant either);
//! - the audit log is append-only: the request role may read and insert, and a trigger refuses
//!   every `UPDATE` and every `DELETE` except the retention purge
//!   ([`super::audit::purge_older_than`]);
//! - the relay and the retention purge run as the owner, across tenants: a policy that applies
//!   to the owner role only (never to the request role) lets them see every tenant's rows when
//!   the owner is not a superuser.

use sqlx::PgConnection;

use crate::error::ApiResult;
use crate::model::{ModelMeta, ModelRegistration, ModelSql};
use crate::sql::quote_ident as ddl_quote_ident;

/// The outbox table: events committed and not yet published.
pub const OUTBOX_TABLE: &str = "saas_outbox";
/// The audit log table: every event ever emitted, append-only.
pub const AUDIT_TABLE: &str = "saas_audit_log";
/// The consumers' ledger of events already applied.
pub const PROCESSED_TABLE: &str = "saas_processed_events";
/// The channel the outbox notifies on commit (the relay also polls: notifications are only
/// a wake-up, never the only path).
pub const NOTIFY_CHANNEL: &str = "saas_outbox";

/// Whether a table is one of the framework's event tables (kept in the shared schema for the
/// shared and schema tiers, in each tenant database for the database tier).
pub fn is_event_table(table: &str) -> bool {
    matches!(table, OUTBOX_TABLE | AUDIT_TABLE | PROCESSED_TABLE)
}

/// The tables, created before the application's migrations, in the current schema.
pub(crate) const EVENTS_DDL: &str = r#"
-- On Citus the event tables are distributed, and Citus accepts (re)creating their triggers
-- only with this setting (for the rest of this batch).
SELECT set_config('citus.enable_unsafe_triggers', 'on', true) FROM pg_extension WHERE extname = 'citus';
CREATE TABLE IF NOT EXISTS saas_audit_log (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    aggregate_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
DROP INDEX IF EXISTS saas_audit_log_newest;
CREATE INDEX IF NOT EXISTS saas_audit_log_pages ON saas_audit_log (tenant_id, occurred_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS saas_audit_log_by_time ON saas_audit_log (occurred_at);

CREATE TABLE IF NOT EXISTS saas_outbox (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    aggregate_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    payload jsonb NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    available_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    parked_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS saas_outbox_pending ON saas_outbox (seq) WHERE parked_at IS NULL;
CREATE INDEX IF NOT EXISTS saas_outbox_by_aggregate ON saas_outbox (tenant_id, aggregate_id, seq);

CREATE TABLE IF NOT EXISTS saas_processed_events (
    tenant_id uuid NOT NULL,
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, consumer, event_id)
);

CREATE OR REPLACE FUNCTION saas.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $saas$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('saas.audit_purge', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'saas_audit_log is append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$saas$;

CREATE OR REPLACE FUNCTION saas.outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $saas$
BEGIN
  -- On a Citus worker the trigger fires on a shard (saas_outbox_<shard id>): a NOTIFY there
  -- wakes nobody (relays listen on the coordinator, where `emit` notifies instead) and a
  -- transaction that wrote on two workers could not commit (PREPARE refuses a NOTIFY).
  IF TG_TABLE_NAME = 'saas_outbox' THEN
    PERFORM pg_notify('saas_outbox', '');
  END IF;
  RETURN NULL;
END
$saas$;
-- One statement each (Citus propagates a trigger on a distributed table by sending the text
-- of the statement that made it, and refuses a text holding several).
DO $saas$
BEGIN
  EXECUTE 'CREATE OR REPLACE TRIGGER saas_audit_log_append_only
    BEFORE UPDATE OR DELETE ON saas_audit_log
    FOR EACH ROW EXECUTE FUNCTION saas.audit_log_append_only()';
  EXECUTE 'CREATE OR REPLACE TRIGGER saas_outbox_notify
    AFTER INSERT ON saas_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION saas.outbox_notify()';
END
$saas$;

DO $saas$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = 'saas_outbox'::regclass
                 AND polname = 'saas_framework_owner') THEN
    EXECUTE format('CREATE POLICY saas_framework_owner ON saas_outbox AS PERMISSIVE FOR ALL
                    TO %I USING (true) WITH CHECK (true)', current_user);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = 'saas_audit_log'::regclass
                 AND polname = 'saas_framework_owner') THEN
    EXECUTE format('CREATE POLICY saas_framework_owner ON saas_audit_log AS PERMISSIVE FOR ALL
                    TO %I USING (true) WITH CHECK (true)', current_user);
  END IF;
END
$saas$;
"#;

/// Narrows the request role's rights on the event tables below what a model gets: insert-only
/// on the outbox, read-and-insert on the audit log. Runs after the models are protected.
pub(crate) async fn restrict_request_role(conn: &mut PgConnection, role: &str) -> ApiResult<()> {
    let role = ddl_quote_ident(role);
    let sql = format!(
        "REVOKE SELECT, UPDATE, DELETE, TRUNCATE ON TABLE {OUTBOX_TABLE} FROM {role};
         REVOKE UPDATE, DELETE, TRUNCATE ON TABLE {AUDIT_TABLE} FROM {role};"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

static OUTBOX: ModelMeta = ModelMeta {
    type_name: "OutboxEvent",
    table: OUTBOX_TABLE,
    tenant_column: "tenant_id",
    key_columns: &["id"],
    columns: &[
        "tenant_id",
        "id",
        "seq",
        "event_type",
        "schema_version",
        "aggregate_id",
        "occurred_at",
        "payload",
        "attempts",
        "available_at",
        "last_error",
        "parked_at",
    ],
    generated_columns: &["seq", "attempts", "available_at"],
    parents: &[],
    sql: ModelSql::NONE,
};

static AUDIT: ModelMeta = ModelMeta {
    type_name: "AuditEntry",
    table: AUDIT_TABLE,
    tenant_column: "tenant_id",
    key_columns: &["id"],
    columns: &[
        "tenant_id",
        "id",
        "seq",
        "event_type",
        "schema_version",
        "aggregate_id",
        "occurred_at",
        "payload",
    ],
    generated_columns: &["seq", "occurred_at"],
    parents: &[],
    sql: ModelSql::NONE,
};

static PROCESSED: ModelMeta = ModelMeta {
    type_name: "ProcessedEvent",
    table: PROCESSED_TABLE,
    tenant_column: "tenant_id",
    key_columns: &["consumer", "event_id"],
    columns: &["tenant_id", "consumer", "event_id", "processed_at"],
    generated_columns: &["processed_at"],
    parents: &[],
    sql: ModelSql::NONE,
};

inventory::submit! { ModelRegistration(|| &OUTBOX) }
inventory::submit! { ModelRegistration(|| &AUDIT) }
inventory::submit! { ModelRegistration(|| &PROCESSED) }

#[cfg(test)]
mod tests {
    use super::*;

    /// The tenant policy lets the owner through on exactly the tables the owner reads across
    /// tenants (those with the `saas_framework_owner` policy).
    #[test]
    fn owner_wide_tables_are_the_ones_the_owner_policy_covers() {
        assert_eq!(crate::model::OWNER_WIDE_TABLES, [OUTBOX_TABLE, AUDIT_TABLE]);
        for table in crate::model::OWNER_WIDE_TABLES {
            assert!(EVENTS_DDL.contains(&format!("saas_framework_owner ON {table} ")));
        }
        assert!(!crate::model::owner_wide(PROCESSED_TABLE));
    }
}
