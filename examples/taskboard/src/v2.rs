//! Version 2 of the tenant API: projects and tasks.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use saas_core::http::{Json, Path, Query};
use saas_core::prelude::*;
use serde::Deserialize;

use crate::models::{NewProject, NewTask, Project, ProjectBody, Task, TaskBody};

/// The v2 routes, relative to `/v2`.
pub fn routes() -> Router {
    Router::new()
        .route("/projects", get(list_projects).post(create_project))
        .route(
            "/projects/{id}",
            get(get_project)
                .patch(update_project)
                .delete(delete_project),
        )
        .route("/projects/{id}/tasks", get(list_tasks).post(create_task))
        .route(
            "/tasks/{id}",
            get(get_task).patch(update_task).delete(delete_task),
        )
}

/// Checks a name or title: 1 to 200 Unicode code points.
pub fn check_text(field: &str, value: &str) -> ApiResult<()> {
    let n = value.chars().count();
    if (1..=200).contains(&n) {
        Ok(())
    } else {
        Err(Error::Validation(format!(
            "{field} must be 1 to 200 characters, got {n}"
        )))
    }
}

/// A task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ProjectInput {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct TaskInput {
    pub title: String,
    #[serde(default)]
    pub status: Option<Status>,
}

#[derive(Debug, Deserialize)]
pub struct TaskPatch {
    pub title: Option<String>,
    pub status: Option<Status>,
}

async fn create_project(
    mut tx: TenantTx,
    Json(input): Json<ProjectInput>,
) -> ApiResult<(StatusCode, Json<ProjectBody>)> {
    check_text("name", &input.name)?;
    let project = Project::insert(&mut tx, NewProject { name: input.name }).await?;
    Ok((StatusCode::CREATED, Json(project.into())))
}

async fn list_projects(
    mut tx: TenantTx,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<ProjectBody>>> {
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    Ok(Json(Project::list(&mut tx, page).await?.map(Into::into)))
}

async fn get_project(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<Json<ProjectBody>> {
    Ok(Json(Project::get(&mut tx, id).await?.into()))
}

async fn update_project(
    mut tx: TenantTx,
    Path(id): Path<Uuid>,
    Json(input): Json<ProjectInput>,
) -> ApiResult<Json<ProjectBody>> {
    check_text("name", &input.name)?;
    let mut project = Project::get(&mut tx, id).await?;
    project.name = input.name;
    Ok(Json(project.update(&mut tx).await?.into()))
}

async fn delete_project(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    Project::delete(&mut tx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_task(
    mut tx: TenantTx,
    Path(project_id): Path<Uuid>,
    Json(input): Json<TaskInput>,
) -> ApiResult<(StatusCode, Json<TaskBody>)> {
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
    Ok((StatusCode::CREATED, Json(task.into())))
}

async fn list_tasks(
    mut tx: TenantTx,
    Path(project_id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<TaskBody>>> {
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    Project::get(&mut tx, project_id).await?;
    let tasks = Task::list_by_project_id(&mut tx, project_id, page).await?;
    Ok(Json(tasks.map(Into::into)))
}

async fn get_task(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<Json<TaskBody>> {
    Ok(Json(Task::get(&mut tx, id).await?.into()))
}

async fn update_task(
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
    Ok(Json(task.update(&mut tx).await?.into()))
}

async fn delete_task(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    Task::delete(&mut tx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
