//! Projects.

use axum::http::StatusCode;
use axum::response::Response;
use saas_core::endpoint;
use saas_core::http::{Json, Path, Query};
use saas_core::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{PageQuery, check_text};
use crate::events::{ProjectCreated, ProjectDeleted, ProjectUpdated};
use crate::models::{NewProject, Project};
use saas_core::events;

/// A project as the API shows it (v2).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProjectBody {
    pub id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<Project> for ProjectBody {
    fn from(p: Project) -> Self {
        ProjectBody {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
        }
    }
}

/// A page of projects.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectPage {
    pub items: Vec<ProjectBody>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Create or rename a project.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProjectInput {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

#[endpoint(post, "/projects", versions = 1.., tag = "projects",
    responses((status = 201, description = "Created", body = ProjectBody)))]
pub async fn create_project(
    mut tx: TenantTx,
    Json(input): Json<ProjectInput>,
) -> ApiResult<Created<ProjectBody>> {
    check_text("name", &input.name)?;
    let project: ProjectBody = Project::insert(&mut tx, NewProject { name: input.name })
        .await?
        .into();
    events::emit(&mut tx, &ProjectCreated(project.clone())).await?;
    Ok(Created::at(format!("/projects/{}", project.id), project))
}

#[endpoint(get, "/projects", versions = 1.., tag = "projects", cache = edge,
    params(PageQuery),
    responses((status = 200, description = "A page of projects", body = ProjectPage)))]
pub async fn list_projects(mut tx: TenantTx, Query(q): Query<PageQuery>) -> ApiResult<Response> {
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let page = Project::list(&mut tx, page).await?;
    let page = Json(ProjectPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    });
    Ok(crate::edge::cached(page, &["project-list".to_string()]))
}

#[endpoint(get, "/projects/{id}", versions = 1.., tag = "projects", cache = edge,
    params(("id" = Uuid, Path, description = "The project's id")),
    responses((status = 200, description = "The project", body = ProjectBody)))]
pub async fn get_project(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<Response> {
    let project: ProjectBody = Project::get(&mut tx, id).await?.into();
    Ok(crate::edge::cached(
        Json(project),
        &[format!("project-{id}")],
    ))
}

#[endpoint(patch, "/projects/{id}", versions = 2.., tag = "projects",
    params(("id" = Uuid, Path, description = "The project's id")),
    responses((status = 200, description = "The renamed project", body = ProjectBody)))]
pub async fn update_project(
    mut tx: TenantTx,
    Path(id): Path<Uuid>,
    Json(input): Json<ProjectInput>,
) -> ApiResult<Json<ProjectBody>> {
    check_text("name", &input.name)?;
    let mut project = Project::get(&mut tx, id).await?;
    project.name = input.name;
    let project: ProjectBody = project.update(&mut tx).await?.into();
    events::emit(&mut tx, &ProjectUpdated(project.clone())).await?;
    Ok(Json(project))
}

#[endpoint(delete, "/projects/{id}", versions = 2.., tag = "projects",
    params(("id" = Uuid, Path, description = "The project's id")),
    responses((status = 204, description = "Deleted, with its tasks")))]
pub async fn delete_project(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    Project::delete(&mut tx, id).await?;
    events::emit(&mut tx, &ProjectDeleted { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}
