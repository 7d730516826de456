//! Version 1 shapes, served by the v2 handlers through version changes: no handler is copied.
//!
//! v1 projects have no `created_at`; v1 tasks have `done: bool` where v2 has `status`
//! (`done` is `status == "done"`; a v1 task created with `done: false` is `todo`).

use saas_core::prelude::*;
use saas_core::version_change;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::projects::ProjectBody;
use super::tasks::{Status, TaskBody, TaskInput};

/// A project in v1.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectV1 {
    pub id: Uuid,
    pub name: String,
}

/// A task in v1.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskV1 {
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub done: bool,
}

/// A new task in v1.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskInputV1 {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[serde(default)]
    pub done: bool,
}

#[version_change(from = 2, to = 1)]
fn project_to_v1(project: ProjectBody) -> ProjectV1 {
    ProjectV1 {
        id: project.id,
        name: project.name,
    }
}

#[version_change(from = 2, to = 1)]
fn task_to_v1(task: TaskBody) -> TaskV1 {
    TaskV1 {
        id: task.id,
        project_id: task.project_id,
        title: task.title,
        done: task.status == Status::Done,
    }
}

#[version_change(from = 1, to = 2)]
fn task_input_from_v1(input: TaskInputV1) -> TaskInput {
    TaskInput {
        title: input.title,
        status: Some(if input.done {
            Status::Done
        } else {
            Status::Todo
        }),
    }
}
