//! Applying the application's migrations one statement at a time, for Citus.
//!
//! sqlx sends each migration file as one query text. Citus propagates DDL to its workers by
//! the text of the query that holds it and refuses a text with several statements ("cannot
//! insert multiple commands into a prepared statement"), so on a Citus coordinator a file that
//! creates a table referencing the (reference-table) registry, or two tables in a distributed
//! schema, fails as written. [`StatementWise`] is sqlx's own migration runner with one change:
//! it sends a migration's statements one by one, each a top-level query (Citus converts new
//! tables only for top-level statements), inside the migration's single transaction, and
//! keeps sqlx's ledger exactly as sqlx does — same rows, same checksums — so a database
//! migrated either way is the same to both.

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use sqlx::migrate::{AppliedMigration, Migrate, MigrateError, Migration};
use sqlx::{Acquire, AssertSqlSafe, Executor, PgConnection};

use crate::sql::split_statements;

/// A connection whose migrations run statement by statement (see the module docs).
pub(crate) struct StatementWise<'c>(pub(crate) &'c mut PgConnection);

impl StatementWise<'_> {
    async fn run(&mut self, table_name: &str, migration: &Migration) -> Result<(), MigrateError> {
        let failed = |e| MigrateError::ExecuteMigration(e, migration.version);
        match split_statements(migration.sql.as_str()) {
            Some(statements) => {
                for statement in statements {
                    self.0
                        .execute(AssertSqlSafe(statement.to_owned()))
                        .await
                        .map_err(failed)?;
                }
            }
            // Text the splitter cannot cut (a BEGIN ATOMIC body) goes as written.
            None => {
                self.0
                    .execute(migration.sql.clone())
                    .await
                    .map_err(failed)?;
            }
        }
        // The same bookkeeping as sqlx's PostgreSQL migrator.
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table_name} (version, description, success, checksum, execution_time)
             VALUES ($1, $2, TRUE, $3, -1)"
        )))
        .bind(migration.version)
        .bind(&*migration.description)
        .bind(&*migration.checksum)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }
}

impl Migrate for StatementWise<'_> {
    fn create_schema_if_not_exists<'e>(
        &'e mut self,
        schema_name: &'e str,
    ) -> BoxFuture<'e, Result<(), MigrateError>> {
        self.0.create_schema_if_not_exists(schema_name)
    }

    fn ensure_migrations_table<'e>(
        &'e mut self,
        table_name: &'e str,
    ) -> BoxFuture<'e, Result<(), MigrateError>> {
        self.0.ensure_migrations_table(table_name)
    }

    fn dirty_version<'e>(
        &'e mut self,
        table_name: &'e str,
    ) -> BoxFuture<'e, Result<Option<i64>, MigrateError>> {
        self.0.dirty_version(table_name)
    }

    fn list_applied_migrations<'e>(
        &'e mut self,
        table_name: &'e str,
    ) -> BoxFuture<'e, Result<Vec<AppliedMigration>, MigrateError>> {
        self.0.list_applied_migrations(table_name)
    }

    fn lock(&mut self) -> BoxFuture<'_, Result<(), MigrateError>> {
        self.0.lock()
    }

    fn unlock(&mut self) -> BoxFuture<'_, Result<(), MigrateError>> {
        self.0.unlock()
    }

    fn apply<'e>(
        &'e mut self,
        table_name: &'e str,
        migration: &'e Migration,
    ) -> BoxFuture<'e, Result<Duration, MigrateError>> {
        Box::pin(async move {
            let start = Instant::now();
            if migration.no_tx {
                self.run(table_name, migration).await?;
            } else {
                let mut tx = self.0.begin().await?;
                StatementWise(&mut tx).run(table_name, migration).await?;
                tx.commit().await?;
            }
            let elapsed = start.elapsed();
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE {table_name} SET execution_time = $1 WHERE version = $2"
            )))
            .bind(i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
            .bind(migration.version)
            .execute(&mut *self.0)
            .await?;
            Ok(elapsed)
        })
    }

    fn revert<'e>(
        &'e mut self,
        table_name: &'e str,
        migration: &'e Migration,
    ) -> BoxFuture<'e, Result<Duration, MigrateError>> {
        self.0.revert(table_name, migration)
    }
}
