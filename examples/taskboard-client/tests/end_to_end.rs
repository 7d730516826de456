//! The generated client against the real taskboard app, served in-process on a real
//! PostgreSQL: what one tenant writes through it, it reads back, and another tenant's
//! client gets a typed 404 for the very same ids.

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use saas_core::TenantId;
use saas_core::tenancy::resolver::JwtIssuer;
use taskboard_client::types::{Problem, ProjectInput, Status, TaskInput};
use taskboard_client::{Client, Error};

const ADMIN_TOKEN: &str = "admin-token-for-client-tests";
const JWT_SECRET: &str = "jwt-secret-for-client-tests-0123456789abcdef";

/// A generated client that sends a bearer token for `tenant` with every request.
fn client_for(base_url: &str, tenant: TenantId, subject: &str) -> anyhow::Result<Client> {
    let token = JwtIssuer::hs256(JWT_SECRET).issue(tenant, subject, 3600)?;
    let mut bearer = HeaderValue::try_from(format!("Bearer {token}"))?;
    bearer.set_sensitive(true);
    let http = reqwest::Client::builder()
        .default_headers(HeaderMap::from_iter([(AUTHORIZATION, bearer)]))
        .build()?;
    Ok(Client::new_with_client(base_url, http))
}

/// The problem document of a documented error response, or a failure naming what came instead.
fn problem<T: std::fmt::Debug>(result: Result<T, Error<Problem>>) -> Problem {
    match result {
        Err(Error::ErrorResponse(response)) => response.into_inner(),
        other => panic!("expected a documented error response, got {other:?}"),
    }
}

#[tokio::test]
async fn another_tenants_client_gets_404_for_a_project_and_task_created_through_the_generated_client()
-> anyhow::Result<()> {
    let env = saas_testkit::TestEnv::builder()
        .migrations(&taskboard::MIGRATIONS)
        .start()
        .await?;
    let app = env
        .app(taskboard::app(taskboard::Settings::new(
            ADMIN_TOKEN,
            JWT_SECRET,
        )))
        .await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let alice = client_for(&app.url(""), a.id, "alice")?;
    let bob = client_for(&app.url(""), b.id, "bob")?;

    // Tenant A writes...
    let created = alice
        .create_project(&ProjectInput {
            name: "Launch".parse().expect("a valid project name"),
        })
        .await?;
    assert_eq!(created.status(), StatusCode::CREATED);
    let project = created.into_inner();
    assert_eq!(project.name, "Launch");

    let created = alice
        .create_task(
            &project.id,
            &TaskInput {
                title: "Book the venue".parse().expect("a valid task title"),
                status: Some(Status::Doing),
            },
        )
        .await?;
    assert_eq!(created.status(), StatusCode::CREATED);
    let task = created.into_inner();
    assert_eq!(task.project_id, project.id);
    assert_eq!(task.status, Status::Doing);

    // ...and reads both back.
    let read = alice.get_project(&project.id, None).await?.into_inner();
    assert_eq!(
        (read.id, &read.name, read.created_at),
        (project.id, &project.name, project.created_at)
    );
    let read = alice.get_task(&task.id, None).await?.into_inner();
    assert_eq!(
        (
            read.id,
            read.project_id,
            &read.title,
            read.status,
            read.created_at
        ),
        (
            task.id,
            project.id,
            &task.title,
            Status::Doing,
            task.created_at
        )
    );

    // Tenant B, with the same ids, gets the typed 404 of the document: never the data.
    let err = bob.get_project(&project.id, None).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND), "{err}");
    let not_found = problem(bob.get_project(&project.id, None).await);
    assert_eq!(not_found.status, 404);
    assert!(!not_found.detail.contains("Launch"), "{not_found:?}");

    let err = bob.get_task(&task.id, None).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND), "{err}");
    let not_found = problem(bob.get_task(&task.id, None).await);
    assert_eq!(not_found.status, 404);
    assert!(!not_found.detail.contains("venue"), "{not_found:?}");

    Ok(())
}
