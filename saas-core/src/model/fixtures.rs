//! Model descriptions for unit tests: `projects` and `tasks` (a child of `projects`).

use super::{ModelMeta, ModelSql, ParentMeta};

pub(crate) static PROJECTS: ModelMeta = ModelMeta {
    type_name: "Project",
    table: "projects",
    tenant_column: "tenant_id",
    key_columns: &["id"],
    columns: &["tenant_id", "id", "name"],
    generated_columns: &["id"],
    parents: &[],
    sql: ModelSql::NONE,
};

pub(crate) static TASKS: ModelMeta = ModelMeta {
    type_name: "Task",
    table: "tasks",
    tenant_column: "tenant_id",
    key_columns: &["id"],
    columns: &["tenant_id", "id", "project_id", "title"],
    generated_columns: &["id"],
    parents: &[ParentMeta {
        columns: &["project_id"],
        parent: || &PROJECTS,
        list_first: "",
        list_after: "",
    }],
    sql: ModelSql::NONE,
};
