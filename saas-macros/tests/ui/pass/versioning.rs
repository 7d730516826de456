//! The API-versioning macros used as an application would: declared versions, three endpoints
//! (one for a range of versions and deprecated on its own, one under the `crate` override),
//! `routes!` checking them, and a version change, all inspected at run time.

extern crate saas_core as my_core;

use saas_core::http::Json;
use saas_core::prelude::*;
use saas_core::versioning::{ApiVersion, VersionChange};
use saas_core::{api_versions, endpoint, routes, version_change};

api_versions! {
    /// The versions of the API, oldest first.
    pub const VERSIONS = {
        1 => deprecated(
            since = "2026-01-01",
            sunset = "2027-06-30",
            docs = "https://example.com/api/v1-retirement",
        ),
        2 => current,
    };
}

/// A project.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ProjectBody {
    pub id: Uuid,
    pub name: String,
}

/// A task, as of version 2.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TaskBody {
    pub id: Uuid,
    pub title: String,
    pub labels: Vec<String>,
}

/// A task, as of version 1: no labels.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TaskV1 {
    pub id: Uuid,
    pub title: String,
}

mod projects {
    use super::ProjectBody;
    use saas_core::endpoint;
    use saas_core::http::{Json, Path};
    use saas_core::prelude::*;

    /// One project.
    #[endpoint(get, "/projects/{id}", versions = 2.., tag = "projects",
               responses((status = 200, body = ProjectBody)))]
    pub async fn get_project(_tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<Json<ProjectBody>> {
        Ok(Json(ProjectBody {
            id,
            name: "Docs".into(),
        }))
    }

    /// The projects, the version-1 way.
    #[endpoint(get, "/projects", versions = 1..2,
               deprecated(since = "2026-03-01T00:00:00Z", docs = "https://example.com/boards"),
               successor(version = 2, path = "/boards/{id}/projects"),
               responses((status = 200, body = [ProjectBody])))]
    pub async fn list_projects_v1() -> ApiResult<Json<Vec<ProjectBody>>> {
        Ok(Json(Vec::new()))
    }
}

/// Creates a task.
#[endpoint(post, "/tasks", versions = 1.., crate = "my_core", request_body = TaskBody,
           responses((status = 201, body = TaskBody)), operation_id = "create_task")]
async fn create_task(Json(task): Json<TaskBody>) -> ApiResult<Json<TaskBody>> {
    Ok(Json(task))
}

/// Version-1 clients get tasks without labels.
#[version_change(from = 2, to = 1)]
fn task_to_v1(task: TaskBody) -> TaskV1 {
    TaskV1 {
        id: task.id,
        title: task.title,
    }
}

fn main() {
    let api = routes!(VERSIONS; projects::get_project, projects::list_projects_v1, create_task,);
    assert_eq!(api.endpoints.len(), 3);
    assert_eq!(api.versions.versions.len(), 2);
    assert_eq!(api.versions.versions[0].deprecated, Some(1_767_225_600));
    assert_eq!(api.versions.versions[0].sunset, Some(1_814_313_600));
    assert_eq!(api.versions.newest(), Some(ApiVersion::Int(2)));

    let get = api.endpoints[0].decl;
    assert_eq!(
        (get.name, get.method, get.path),
        ("get_project", "GET", "/projects/{id}")
    );
    assert_eq!((get.introduced, get.removed), (ApiVersion::Int(2), None));
    assert!(get.lives_in(&ApiVersion::Int(2)) && !get.lives_in(&ApiVersion::Int(1)));

    let old = api.endpoints[1].decl;
    assert_eq!(old.removed, Some(ApiVersion::Int(2)));
    assert_eq!(old.deprecated, Some(1_772_323_200));
    assert_eq!(old.docs, Some("https://example.com/boards"));
    let successor = old.successor.unwrap();
    assert_eq!(
        (successor.version, successor.path),
        (ApiVersion::Int(2), Some("/boards/{id}/projects"))
    );

    let create = api.endpoints[2].decl;
    assert_eq!(
        (create.method, create.introduced),
        ("POST", ApiVersion::Int(1))
    );

    // The router and the OpenAPI operation come from axum and utoipa.
    let _router: axum::routing::MethodRouter = (api.endpoints[0].method_router)();
    let operation = (api.endpoints[0].operation)();
    assert!(operation.responses.responses.contains_key("200"));
    assert_eq!(
        (api.endpoints[2].operation)().operation_id.as_deref(),
        Some("create_task")
    );
    let mut schemas = Vec::new();
    (api.endpoints[2].schemas)(&mut schemas);
    let names: Vec<&str> = schemas.iter().map(|(name, _)| name.as_str()).collect();
    assert!(names.contains(&"TaskBody"), "{names:?}");

    // The version change is registered, with its schemas and a conversion on JSON values.
    let change = saas_core::__private::inventory::iter::<VersionChange>
        .into_iter()
        .find(|c| c.from == ApiVersion::Int(2) && c.to == ApiVersion::Int(1))
        .expect("the version change is registered");
    assert_eq!(
        ((change.input)().0, (change.output)().0),
        ("TaskBody".into(), "TaskV1".into())
    );
    let id = Uuid::nil();
    let v1 = (change.apply)(serde_json::json!({ "id": id, "title": "a", "labels": ["x"] }));
    assert_eq!(v1, Ok(serde_json::json!({ "id": id, "title": "a" })));
    assert!((change.apply)(serde_json::json!({ "title": 3 })).is_err());
    assert_eq!(
        task_to_v1(TaskBody {
            id,
            title: "b".into(),
            labels: vec![]
        })
        .title,
        "b"
    );
}
