//! Isolation: the database roles requests run as and the audit that proves every tenant table
//! is protected (tenancy invariants 2-4, docs/src/tenancy.md).
//!
//! The policies themselves are written by [`crate::model`] (`rls_ddl`), because a model's
//! table and its policy are created together by the migration that creates the table. This
//! module checks the result: [`audit::run`] at start-up refuses to serve when any tenant
//! table, role or grant would let a request see another tenant's rows.

pub mod audit;
pub mod roles;
