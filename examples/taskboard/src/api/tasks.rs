//! Tasks.

use axum::http::StatusCode;
use saas_core::endpoint;
use saas_core::http::{Json, Path, Query};
use saas_core::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{PageQuery, check_text};
use crate::events::{TaskCreated, TaskDeleted, TaskUpdated};
use crate::models::{NewTask, Project, Task};
use saas_core::events;

/// A task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Todo,
    Doing,
    Done,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Todo => "todo",
            Status::Doing => "doing",
            Status::Done => "done",
        }
    }

    fn parse(text: &str) -> Status {
        match text {
            "doing" => Status::Doing,
            "done" => Status::Done,
            _ => Status::Todo,
        }
    }
}

/// A task as the API shows it (v2).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskBody {
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub status: Status,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<Task> for TaskBody {
    fn from(t: Task) -> Self {
        TaskBody {
            id: t.id,
            project_id: t.project_id,
            status: Status::parse(&t.status),
            title: t.title,
            created_at: t.created_at,
        }
    }
}

/// A page of tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<TaskBody>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A new task (v2).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskInput {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Defaults to `todo`.
    #[serde(default)]
    pub status: Option<Status>,
}

/// Changes to a task; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TaskPatch {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    pub status: Option<Status>,
}

#[endpoint(post, "/projects/{id}/tasks", versions = 1.., tag = "tasks",
    params(("id" = Uuid, Path, description = "The project's id")),
    responses((status = 201, description = "Created", body = TaskBody)))]
pub async fn create_task(
    mut tx: TenantTx,
    Path(project_id): Path<Uuid>,
    Json(input): Json<TaskInput>,
) -> ApiResult<Created<TaskBody>> {
    check_text("title", &input.title)?;
    // Another tenant's project is invisible: 404, exactly as a missing one.
    Project::get(&mut tx, project_id).await?;
    let task = Task::insert(
        &mut tx,
        NewTask {
            project_id,
            title: input.title,
            status: input.status.unwrap_or(Status::Todo).as_str().to_string(),
        },
    )
    .await?;
    let task: TaskBody = task.into();
    events::emit(&mut tx, &TaskCreated(task.clone())).await?;
    Ok(Created::at(format!("/tasks/{}", task.id), task))
}

#[endpoint(get, "/projects/{id}/tasks", versions = 2.., tag = "tasks",
    params(("id" = Uuid, Path, description = "The project's id"), PageQuery),
    responses((status = 200, description = "A page of the project's tasks", body = TaskPage)))]
pub async fn list_tasks(
    mut tx: TenantTx,
    Path(project_id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<TaskPage>> {
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    Project::get(&mut tx, project_id).await?;
    let tasks = Task::list_by_project_id(&mut tx, project_id, page).await?;
    Ok(Json(TaskPage {
        items: tasks.items.into_iter().map(Into::into).collect(),
        next_cursor: tasks.next_cursor,
    }))
}

#[endpoint(get, "/tasks/{id}", versions = 1.., tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's id")),
    responses((status = 200, description = "The task", body = TaskBody)))]
pub async fn get_task(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<Json<TaskBody>> {
    Ok(Json(Task::get(&mut tx, id).await?.into()))
}

#[endpoint(patch, "/tasks/{id}", versions = 2.., tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's id")),
    responses((status = 200, description = "The updated task", body = TaskBody)))]
pub async fn update_task(
    mut tx: TenantTx,
    Path(id): Path<Uuid>,
    Json(patch): Json<TaskPatch>,
) -> ApiResult<Json<TaskBody>> {
    let mut task = Task::get(&mut tx, id).await?;
    if let Some(title) = patch.title {
        check_text("title", &title)?;
        task.title = title;
    }
    if let Some(status) = patch.status {
        task.status = status.as_str().to_string();
    }
    let task: TaskBody = task.update(&mut tx).await?.into();
    events::emit(&mut tx, &TaskUpdated(task.clone())).await?;
    Ok(Json(task))
}

#[endpoint(delete, "/tasks/{id}", versions = 2.., tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's id")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_task(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    Task::delete(&mut tx, id).await?;
    events::emit(&mut tx, &TaskDeleted { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}
