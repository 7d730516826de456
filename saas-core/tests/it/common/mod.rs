//! Models, migrations and an HTTP router shared by the integration tests.
#![allow(dead_code)]

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use saas_core::http::{Json, Path, Query};
use saas_core::prelude::*;
use saas_core::tenancy::pool::{Tenancy, TenancyConfig};
use saas_core::tenancy::registry::{NewTenant, Tenant};
use saas_core::tenancy::resolver::{JwtIssuer, JwtResolver, ResolverChain};
use saas_testkit::{TestApp, TestDb};
use serde::Deserialize;

pub mod cache;
mod models;
pub use models::*;
pub mod events;
pub mod moves;
pub mod ratelimit;

pub use saas_testkit::free_port;

/// A second PostgreSQL server ("east"), started once per test binary and stopped when the
/// process exits.
pub async fn east() -> &'static str {
    static EAST: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    EAST.get_or_init(|| async {
        let dir = std::env::temp_dir().join(format!("saas-east-{}", std::process::id()));
        saas_core::devdb::start_cluster(&dir, free_port(), std::process::id())
            .await
            .expect("a second PostgreSQL cluster (needs the PostgreSQL server binaries)")
    })
    .await
}

pub const SECRET: &str = "integration-test-secret-0123456789";

#[derive(Debug)]
pub struct Env {
    pub db: TestDb,
    pub tenancy: Tenancy,
}

impl Env {
    pub async fn new() -> Env {
        Self::with_config(|c| c).await
    }

    pub async fn with_config(f: impl FnOnce(TenancyConfig) -> TenancyConfig) -> Env {
        let db = TestDb::new().await.expect("test database");
        let tenancy = Tenancy::start(f(db.config()), resolvers(), Some(&MIGRATIONS))
            .await
            .expect("tenancy starts on a clean database");
        Env { db, tenancy }
    }

    /// A pool of the request role with no tenant context: what a request would get if it
    /// bypassed `TenantTx` (the runtime does not hand its own pool out).
    #[allow(dead_code)]
    pub async fn request_pool(&self) -> sqlx::PgPool {
        let config = self.tenancy.config();
        let options: sqlx::postgres::PgConnectOptions = config.database_url.parse().unwrap();
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options.username(&config.request_role))
            .await
            .expect("connecting as the request role")
    }

    pub async fn tenant(&self, slug: &str) -> Tenant {
        self.tenancy
            .tenants()
            .create(NewTenant {
                slug: slug.into(),
                name: slug.into(),
                tier: None,
                server: None,
            })
            .await
            .expect("tenant")
    }

    pub fn token(&self, tenant: &Tenant) -> String {
        JwtIssuer::hs256(SECRET)
            .issue(tenant.id, "tester", 600)
            .unwrap()
    }

    /// The test routes wrapped by the framework's layers, as an unserved router (to add
    /// layers to before [`Env::serve`]).
    pub fn router(&self) -> Router {
        saas_core::app::wrap_router(routes(), &self.tenancy, saas_core::app::DEFAULT_BODY_LIMIT)
    }

    /// `routes` with the framework's layers (`wrap_router`), served.
    pub async fn serve_routes(&self, routes: Router) -> TestApp {
        self.serve(saas_core::app::wrap_router(
            routes,
            &self.tenancy,
            saas_core::app::DEFAULT_BODY_LIMIT,
        ))
        .await
    }

    /// [`Env::router`], served.
    pub async fn app(&self) -> TestApp {
        self.serve(self.router()).await
    }

    /// Serves `router` over this runtime on a local port: requests go through the testkit's
    /// `TestApp`, the one HTTP harness of the workspace.
    pub async fn serve(&self, router: Router) -> TestApp {
        TestApp::serve_router(self.tenancy.clone(), router)
            .await
            .expect("serving the test router")
    }

    /// Sends a request with a bearer token (or none) and returns status, JSON body (a string
    /// when the body is not JSON) and headers.
    pub async fn call(
        &self,
        app: &TestApp,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value, http::HeaderMap) {
        let client = match token {
            Some(token) => app.with_token(token),
            None => app.anonymous(),
        };
        let response = client.send(method, uri, body.as_ref()).await;
        let json = if response.body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&response.body)
                .unwrap_or_else(|_| serde_json::Value::String(response.text()))
        };
        (
            StatusCode::from_u16(response.status).unwrap(),
            json,
            response.headers.clone(),
        )
    }
}

pub fn resolvers() -> ResolverChain {
    ResolverChain::new().with(JwtResolver::hs256(SECRET))
}

#[derive(Deserialize)]
pub struct NewProjectBody {
    pub name: String,
    #[serde(default)]
    pub fail_after_insert: bool,
}

#[derive(Deserialize)]
pub struct ListQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

async fn create_project(
    mut tx: TenantTx,
    Json(body): Json<NewProjectBody>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    let project = Project::insert(&mut tx, NewProject { name: body.name }).await?;
    if body.fail_after_insert {
        return Err(ApiError::Validation(
            "asked to fail after the insert".into(),
        ));
    }
    Ok((StatusCode::CREATED, Json(project)))
}

async fn list_projects(
    mut tx: TenantTx,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Page<Project>>> {
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    Ok(Json(Project::list(&mut tx, page).await?))
}

async fn get_project(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<Json<Project>> {
    Ok(Json(Project::get(&mut tx, id).await?))
}

async fn delete_project(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    Project::delete(&mut tx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Raw SQL on purpose: row-level security must filter it even without a WHERE clause.
async fn raw_projects(mut tx: TenantTx) -> ApiResult<Json<Vec<(Uuid, Uuid)>>> {
    let conn = tx.conn().await?;
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as("SELECT tenant_id, id FROM projects")
        .fetch_all(conn)
        .await?;
    Ok(Json(rows))
}

/// The test routes as an application (`SaasApp`, the test secret's JWT resolver, the test
/// migrations), without a relay: add `.api(..)` or limits and build.
pub fn app_builder(env: &Env) -> SaasAppBuilder {
    SaasApp::builder()
        .config(env.db.config())
        .resolver(JwtResolver::hs256(SECRET))
        .migrations(&MIGRATIONS)
        .routes(|_| routes())
        .without_relay()
}

/// [`app_builder`] with `api`, built and served.
pub async fn serve_api(env: &Env, api: saas_core::versioning::Api) -> TestApp {
    let router = app_builder(env)
        .api(api)
        .build()
        .unwrap()
        .router()
        .await
        .unwrap();
    env.serve(router).await
}

pub fn routes() -> Router {
    Router::new()
        .route("/projects", get(list_projects).post(create_project))
        .route("/projects/{id}", get(get_project).delete(delete_project))
        .route("/raw/projects", get(raw_projects))
}

/// Creates a project named `name` through the test routes' `POST /projects` (asserting the
/// 201) and returns its id.
pub async fn post_project(client: &saas_testkit::Client<'_>, name: &str) -> String {
    client
        .post("/projects", serde_json::json!({ "name": name }))
        .await
        .assert_status(201)
        .value()["id"]
        .as_str()
        .expect("the new project's id")
        .to_string()
}

/// Inserts one project per name for `tenant` and commits.
pub async fn seed_projects(tenancy: &Tenancy, tenant: TenantId, names: &[&str]) {
    let mut tx = TenantTx::begin(tenancy, tenant);
    for name in names {
        Project::insert(
            &mut tx,
            NewProject {
                name: name.to_string(),
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// Runs each statement on its own, in order (Citus propagates DDL by the statement's text,
/// and refuses a text holding several commands).
pub async fn run_each<S: AsRef<str>>(conn: &mut sqlx::PgConnection, statements: &[S]) {
    for statement in statements {
        let sql = statement.as_ref().to_string();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}
