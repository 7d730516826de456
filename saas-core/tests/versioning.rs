//! Versioned routing, deprecation and sunset headers, version changes and per-version
//! documents, through the HTTP stack (no database needed).

use http::{HeaderMap, StatusCode};
use saas_core::clock::ManualClock;
use saas_core::endpoint;
use saas_core::http::{Json, Path};
use saas_core::version_change;
use saas_core::versioning::{ApiVersion, Negotiation, VersionedApi, VersioningConfig};
use saas_testkit::TestApp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

saas_core::api_versions! {
    const VERSIONS = {
        1 => deprecated(since = "2026-01-01", sunset = "2027-06-30", docs = "https://example.com/v1-retirement"),
        2 => current,
    };
}

const SINCE: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const SUNSET: i64 = 1_814_313_600; // 2027-06-30T00:00:00Z

/// A thing (v2).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Thing {
    pub id: String,
    pub state: String,
}

/// A thing in v1.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ThingV1 {
    pub id: String,
    pub active: bool,
}

/// A new thing (v2).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewThing {
    pub state: String,
}

/// A new thing (v1).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewThingV1 {
    pub active: bool,
}

#[version_change(from = 2, to = 1)]
fn thing_to_v1(thing: Thing) -> ThingV1 {
    ThingV1 {
        id: thing.id,
        active: thing.state == "active",
    }
}

#[version_change(from = 1, to = 2)]
fn new_thing_from_v1(input: NewThingV1) -> NewThing {
    NewThing {
        state: if input.active {
            "active".into()
        } else {
            "idle".into()
        },
    }
}

#[endpoint(get, "/things/{id}", versions = 1.., tag = "things",
    params(("id" = String, Path)),
    responses((status = 200, body = Thing)))]
async fn get_thing(Path(id): Path<String>) -> saas_core::ApiResult<Json<Thing>> {
    if id == "missing" {
        return Err(saas_core::ApiError::NotFound { resource: "Thing" });
    }
    Ok(Json(Thing {
        id,
        state: "active".into(),
    }))
}

#[endpoint(post, "/things", versions = 1.., tag = "things",
    request_body = NewThing,
    responses((status = 201, body = Thing)))]
async fn create_thing(Json(input): Json<NewThing>) -> (StatusCode, Json<Thing>) {
    (
        StatusCode::CREATED,
        Json(Thing {
            id: "new".into(),
            state: input.state,
        }),
    )
}

#[endpoint(get, "/legacy", versions = 1..2, tag = "things", responses((status = 200, body = String)))]
async fn legacy() -> &'static str {
    "old"
}

fn api() -> saas_core::versioning::Api {
    saas_core::routes!(VERSIONS; get_thing, create_thing, legacy)
}

fn versioned(clock: &ManualClock, negotiation: Negotiation) -> VersionedApi {
    VersionedApi::new(
        api(),
        VersioningConfig {
            negotiation,
            clock: std::sync::Arc::new(clock.clone()),
            ..VersioningConfig::default()
        },
    )
}

/// Serves a versioned router (no tenancy runtime needed) through the testkit's harness.
async fn serve(router: axum::Router) -> TestApp {
    TestApp::serve_without_runtime(router)
        .await
        .expect("serving the versioned router")
}

async fn send(
    app: &TestApp,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut client = app.anonymous();
    for (k, v) in headers {
        client = client.header(*k, *v);
    }
    let response = client.send(method, uri, body.as_ref()).await;
    let value = serde_json::from_slice(&response.body).unwrap_or(Value::String(response.text()));
    (
        StatusCode::from_u16(response.status).unwrap(),
        response.headers.clone(),
        value,
    )
}

fn links(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn current_version_carries_its_name_and_no_deprecation() {
    let clock = ManualClock::at(SINCE + 10);
    let router = serve(versioned(&clock, Negotiation::PathPrefix).router()).await;
    let (status, headers, body) = send(&router, "GET", "/v2/things/a1", &[], None).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"id": "a1", "state": "active"}));
    assert_eq!(headers["api-version"], "2");
    for h in ["deprecation", "sunset", "link"] {
        assert!(headers.get(h).is_none(), "{h} on a current version");
    }
}

#[tokio::test]
async fn deprecated_version_headers_parse_back() {
    let clock = ManualClock::at(SINCE + 10);
    let router = serve(versioned(&clock, Negotiation::PathPrefix).router()).await;
    let (status, headers, body) = send(&router, "GET", "/v1/things/8d0c", &[], None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"id": "8d0c", "active": true}),
        "v1 shape through the version change"
    );
    assert_eq!(headers["api-version"], "1");
    let deprecation = headers["deprecation"].to_str().unwrap();
    assert_eq!(
        deprecation
            .strip_prefix('@')
            .unwrap()
            .parse::<i64>()
            .unwrap(),
        SINCE
    );
    let sunset = headers["sunset"].to_str().unwrap();
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let parsed = time::PrimitiveDateTime::parse(sunset, &format)
        .unwrap()
        .assume_utc();
    assert_eq!(parsed.unix_timestamp(), SUNSET);
    assert!(
        parsed.unix_timestamp() >= SINCE,
        "Sunset must not precede Deprecation"
    );
    let links = links(&headers);
    assert!(
        links.contains(&"<https://example.com/v1-retirement>; rel=\"deprecation\"".to_string()),
        "{links:?}"
    );
    assert!(
        links.contains(&"<https://example.com/v1-retirement>; rel=\"sunset\"".to_string()),
        "{links:?}"
    );
    assert!(
        links.contains(&"</v2/things/8d0c>; rel=\"successor-version\"".to_string()),
        "{links:?}"
    );
}

#[tokio::test]
async fn errors_of_a_deprecated_version_carry_its_headers_too() {
    let clock = ManualClock::at(SINCE + 10);
    let router = serve(versioned(&clock, Negotiation::PathPrefix).router()).await;
    for uri in ["/v1/things/missing", "/v1/nowhere"] {
        let (status, headers, _) = send(&router, "GET", uri, &[], None).await;
        assert_eq!(status, 404, "{uri}");
        assert!(headers.get("deprecation").is_some(), "{uri}");
        assert!(headers.get("sunset").is_some(), "{uri}");
        assert_eq!(headers["content-type"], "application/problem+json", "{uri}");
    }
}

#[tokio::test]
async fn after_the_sunset_the_route_is_gone_unless_disabled() {
    let clock = ManualClock::at(SUNSET - 1);
    let router = serve(versioned(&clock, Negotiation::PathPrefix).router()).await;
    assert_eq!(send(&router, "GET", "/v1/things/x", &[], None).await.0, 200);
    clock.set(SUNSET);
    let (status, headers, body) = send(&router, "GET", "/v1/things/x", &[], None).await;
    assert_eq!(status, 410);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(
        body["detail"].as_str().unwrap().contains("/v2/things/x"),
        "{body}"
    );
    assert_eq!(send(&router, "GET", "/v2/things/x", &[], None).await.0, 200);

    let lenient = VersionedApi::new(
        api(),
        VersioningConfig {
            clock: std::sync::Arc::new(clock.clone()),
            gone_after_sunset: false,
            ..Default::default()
        },
    )
    .router();
    let lenient = serve(lenient).await;
    assert_eq!(
        send(&lenient, "GET", "/v1/things/x", &[], None).await.0,
        200
    );
}

#[tokio::test]
async fn unknown_version_is_a_404_naming_the_supported_ones() {
    let clock = ManualClock::at(SINCE);
    let router = serve(versioned(&clock, Negotiation::PathPrefix).router()).await;
    let (status, headers, body) = send(&router, "GET", "/v9/things/x", &[], None).await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/problem+json");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("1, 2"), "{detail}");
}

#[tokio::test]
async fn endpoints_live_only_in_their_range() {
    let clock = ManualClock::at(SINCE);
    let router = serve(versioned(&clock, Negotiation::PathPrefix).router()).await;
    assert_eq!(send(&router, "GET", "/v1/legacy", &[], None).await.0, 200);
    assert_eq!(send(&router, "GET", "/v2/legacy", &[], None).await.0, 404);
}

#[tokio::test]
async fn old_request_shapes_are_upgraded_for_the_current_handler() {
    let clock = ManualClock::at(SINCE);
    let router = serve(versioned(&clock, Negotiation::PathPrefix).router()).await;
    let (status, _, body) = send(
        &router,
        "POST",
        "/v1/things",
        &[],
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body, json!({"id": "new", "active": false}));
    let (status, _, body) = send(
        &router,
        "POST",
        "/v2/things",
        &[],
        Some(json!({"state": "idle"})),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::CREATED, json!({"id": "new", "state": "idle"}))
    );
    let (status, _, _) = send(
        &router,
        "POST",
        "/v1/things",
        &[],
        Some(json!({"active": "yes"})),
    )
    .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn bodies_over_max_transform_body_are_refused_as_documented() {
    let router = VersionedApi::new(
        api(),
        VersioningConfig {
            max_transform_body: 30,
            ..VersioningConfig::default()
        },
    )
    .router();
    let router = serve(router).await;
    // Fits: converted as usual.
    let (status, _, body) = send(&router, "GET", "/v1/things/a", &[], None).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"id": "a", "active": true}))
    );
    // An older request body over the limit: 413, the handler never runs.
    let big = json!({"active": true, "padding": "x".repeat(64)});
    let (status, _, body) = send(&router, "POST", "/v1/things", &[], Some(big.clone())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // The current version needs no change, so the same size passes untouched.
    let (status, _, _) = send(
        &router,
        "POST",
        "/v2/things",
        &[],
        Some(json!({"state": "x".repeat(64)})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // A response that must be downgraded and is over the limit is a 500 problem.
    let long_id = "y".repeat(64);
    let (status, _, body) = send(&router, "GET", &format!("/v1/things/{long_id}"), &[], None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let (status, _, _) = send(&router, "GET", &format!("/v2/things/{long_id}"), &[], None).await;
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn documents_are_titled_with_the_apps_name_and_list_422_only_where_it_can_happen() {
    let app = saas_core::SaasApp::builder().name("dx-app").api(api());
    let versioned = app.versioned_api().unwrap().unwrap();
    let v2 = versioned.document(ApiVersion::Int(2)).unwrap();
    assert_eq!(v2["info"]["title"], "dx-app");
    // A path parameter alone cannot be a 422 (a malformed one is a 404); a body can.
    let get = &v2["paths"]["/v2/things/{id}"]["get"]["responses"];
    assert!(get.get("422").is_none(), "{get:#}");
    assert!(get.get("404").is_some(), "{get:#}");
    let post = &v2["paths"]["/v2/things"]["post"]["responses"];
    assert!(post.get("422").is_some(), "{post:#}");
    // A title of the documents' own wins over the name.
    let mut options = VersioningConfig::default();
    options.docs.title = "Things API".into();
    let app = saas_core::SaasApp::builder()
        .name("dx-app")
        .api(api())
        .versioning(options);
    let versioned = app.versioned_api().unwrap().unwrap();
    assert_eq!(
        versioned.document(ApiVersion::Int(1)).unwrap()["info"]["title"],
        "Things API"
    );
}

#[tokio::test]
async fn header_negotiation_varies_on_the_header() {
    let clock = ManualClock::at(SINCE);
    let negotiation = Negotiation::Header {
        name: http::HeaderName::from_static("api-version"),
        default: ApiVersion::Int(2),
    };
    let router = serve(versioned(&clock, negotiation).router()).await;
    let (status, headers, body) =
        send(&router, "GET", "/things/a", &[("api-version", "1")], None).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"id": "a", "active": true}));
    assert!(headers.get("deprecation").is_some());
    assert_eq!(varies_on_version(&headers), 1);
    let (status, headers, body) = send(&router, "GET", "/things/a", &[], None).await;
    assert_eq!(
        (status, &body["state"]),
        (StatusCode::OK, &json!("active")),
        "default version"
    );
    assert_eq!(headers["api-version"], "2");
    assert_eq!(varies_on_version(&headers), 1);
    let (status, headers, body) =
        send(&router, "GET", "/things/a", &[("api-version", "9")], None).await;
    assert_eq!(status, 404);
    assert!(body["detail"].as_str().unwrap().contains("1, 2"));
    assert_eq!(varies_on_version(&headers), 1);
}

#[tokio::test]
async fn each_version_has_its_own_document() {
    let clock = ManualClock::at(SINCE);
    let api = versioned(&clock, Negotiation::PathPrefix);
    let v1 = api.document(ApiVersion::Int(1)).unwrap();
    let v2 = api.document(ApiVersion::Int(2)).unwrap();
    assert_eq!(v1["openapi"], "3.1.0");
    assert!(v1["paths"]["/v1/legacy"]["get"].is_object());
    assert!(v2["paths"].get("/v2/legacy").is_none());
    for (_, item) in v1["paths"].as_object().unwrap() {
        for (_, op) in item.as_object().unwrap() {
            assert_eq!(op["deprecated"], true);
            assert_eq!(op["x-sunset"], "2027-06-30");
        }
    }
    assert!(
        v2["paths"]["/v2/things/{id}"]["get"]
            .get("deprecated")
            .is_none()
    );
    let v1_thing = &v1["paths"]["/v1/things/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert_eq!(v1_thing["$ref"], "#/components/schemas/ThingV1");
    assert!(v1["components"]["schemas"]["ThingV1"].is_object());
    let v1_input =
        &v1["paths"]["/v1/things"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(v1_input["$ref"], "#/components/schemas/NewThingV1");
    assert_eq!(
        v2["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let router = serve(api.router()).await;
    let (status, _, served) = send(&router, "GET", "/openapi/v1.json", &[], None).await;
    assert_eq!((status, &served), (StatusCode::OK, v1));
    let (status, _, html) = send(&router, "GET", "/docs", &[], None).await;
    assert_eq!(status, 200);
    assert!(html.as_str().unwrap().contains("/openapi/v2.json"));
    assert!(
        !html.as_str().unwrap().contains("https://"),
        "the docs page loads nothing from outside"
    );
    insta::assert_json_snapshot!("thing_v1_document", v1);
    insta::assert_json_snapshot!("thing_v2_document", v2);
}

#[test]
fn the_router_serves_the_newest_declared_version() {
    let clock = ManualClock::at(SINCE);
    let api = versioned(&clock, Negotiation::PathPrefix);
    api.check().unwrap();
    assert_eq!(api.newest_served(), VERSIONS.newest());
}

/// The same handler as `get_thing`, with a `responses(..)` that lost its body: the macro
/// cannot see that `Json<..>` is returned through `impl IntoResponse`, so the start-up check
/// is what notices that `thing_to_v1` now applies to nothing.
#[endpoint(get, "/things/{id}", versions = 1.., tag = "things",
    params(("id" = String, Path)),
    responses((status = 200, description = "A thing")))]
async fn get_thing_undeclared(Path(id): Path<String>) -> impl axum::response::IntoResponse {
    Json(Thing {
        id,
        state: "active".into(),
    })
}

#[test]
fn a_version_change_that_applies_to_no_endpoint_stops_the_start() {
    let clock = ManualClock::at(SINCE);
    let api = VersionedApi::new(
        saas_core::routes!(VERSIONS; get_thing_undeclared),
        VersioningConfig {
            clock: std::sync::Arc::new(clock.clone()),
            ..VersioningConfig::default()
        },
    );
    let err = api.check().unwrap_err();
    assert!(
        err.contains(
            "the version change from 2 to 1 turning `Thing` into `ThingV1` applies to no endpoint"
        ),
        "{err}"
    );
    assert!(err.contains("body = Thing"), "{err}");
    // Each unused change is named; with get_thing and create_thing declared, none is (see
    // the_router_serves_the_newest_declared_version).
    let api = VersionedApi::new(
        saas_core::routes!(VERSIONS; get_thing, legacy),
        VersioningConfig::default(),
    );
    let err = api.check().unwrap_err();
    assert!(
        err.contains("the version change from 1 to 2 turning `NewThingV1` into `NewThing`"),
        "{err}"
    );
    assert!(err.contains("request_body = NewThing"), "{err}");
    assert!(!err.contains("`Thing`"), "{err}");
}

/// Declares nothing but the method, path and versions: the rest comes from the signature.
#[endpoint(patch, "/things/{id}", versions = 2.., tag = "things")]
async fn rename_thing(Path(id): Path<String>, Json(input): Json<NewThing>) -> Json<Thing> {
    Json(Thing {
        id,
        state: input.state,
    })
}

/// A list route on the framework's own page types, declaring nothing.
#[endpoint(get, "/things", versions = 1.., tag = "things")]
async fn list_things(
    saas_core::http::Query(q): saas_core::http::Query<saas_core::PageQuery>,
) -> saas_core::ApiResult<Json<saas_core::Page<Thing>>> {
    q.request::<uuid::Uuid>()?;
    Ok(Json(saas_core::Page {
        items: vec![Thing {
            id: "a".into(),
            state: "idle".into(),
        }],
        next_cursor: None,
    }))
}

#[tokio::test]
async fn pages_and_page_queries_are_documented_and_converted() {
    let api = VersionedApi::new(
        saas_core::routes!(VERSIONS; get_thing, create_thing, list_things),
        VersioningConfig::default(),
    );
    api.check().unwrap();
    let v2 = api.document(ApiVersion::Int(2)).unwrap();
    let op = &v2["paths"]["/v2/things"]["get"];
    let params: Vec<&str> = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["limit", "cursor", "If-None-Match"], "{op:#}");
    assert_eq!(op["parameters"][0]["in"], "query");
    assert_eq!(op["parameters"][0]["schema"]["maximum"], 100);
    let schema = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    let name = schema.rsplit('/').next().unwrap();
    assert_eq!(name, "Page_Thing");
    let page = &v2["components"]["schemas"][name];
    assert_eq!(
        page["properties"]["items"]["items"]["$ref"], "#/components/schemas/Thing",
        "{page:#}"
    );
    // Version 1 sees its own item shape, in the document and on the wire.
    let v1 = api.document(ApiVersion::Int(1)).unwrap();
    assert_eq!(
        v1["components"]["schemas"][name]["properties"]["items"]["items"]["$ref"],
        "#/components/schemas/ThingV1"
    );
    let router = serve(api.router()).await;
    let (status, _, body) = send(&router, "GET", "/v1/things", &[], None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"items": [{"id": "a", "active": false}], "next_cursor": null})
        )
    );
    let (status, _, _) = send(&router, "GET", "/v2/things?limit=0", &[], None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[test]
fn an_endpoint_without_declarations_is_documented_from_its_signature() {
    let api = VersionedApi::new(
        saas_core::routes!(VERSIONS; get_thing, create_thing, rename_thing),
        VersioningConfig::default(),
    );
    api.check().unwrap();
    let v2 = api.document(ApiVersion::Int(2)).unwrap();
    let op = &v2["paths"]["/v2/things/{id}"]["patch"];
    assert_eq!(
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/NewThing",
        "{op:#}"
    );
    assert_eq!(
        op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Thing",
        "{op:#}"
    );
    assert_eq!(op["parameters"][0]["name"], "id", "{op:#}");
    assert_eq!(op["parameters"][0]["in"], "path", "{op:#}");
    assert_eq!(op["parameters"][0]["schema"]["type"], "string", "{op:#}");
}

#[test]
fn export_then_check_passes_and_a_breaking_edit_fails_located() {
    let clock = ManualClock::at(SINCE);
    let api = versioned(&clock, Negotiation::PathPrefix);
    let dir = std::env::temp_dir().join(format!("saas-openapi-{}", uuid::Uuid::new_v4().simple()));
    saas_core::openapi::contract::export(&api, &dir).unwrap();
    let report = saas_core::openapi::contract::check(&api, &dir).unwrap();
    assert!(
        !report.is_breaking() && !report.stale,
        "{}",
        report.render()
    );

    // The committed v1 document promised an operation the code no longer has...
    let path = dir.join("v1.json");
    let mut committed: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    committed["paths"]["/v1/gone"] = json!({"get": {"responses": {"200": {"description": "OK"}}}});
    // ...and a response field that the code no longer returns.
    committed["components"]["schemas"]["ThingV1"]["properties"]["colour"] =
        json!({"type": "string"});
    std::fs::write(&path, serde_json::to_string_pretty(&committed).unwrap()).unwrap();
    let report = saas_core::openapi::contract::check(&api, &dir).unwrap();
    let text = report.render();
    assert!(report.is_breaking(), "{text}");
    assert!(text.contains("/v1/gone"), "{text}");
    assert!(text.contains("colour"), "{text}");

    // An additive change (a new optional field in the committed past) passes.
    saas_core::openapi::contract::export(&api, &dir).unwrap();
    let mut committed: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    committed["paths"]
        .as_object_mut()
        .unwrap()
        .remove("/v1/legacy");
    std::fs::write(&path, serde_json::to_string_pretty(&committed).unwrap()).unwrap();
    let report = saas_core::openapi::contract::check(&api, &dir).unwrap();
    assert!(
        !report.is_breaking(),
        "adding an operation is additive: {}",
        report.render()
    );
    assert!(report.stale);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_removed_operation_must_have_been_deprecated() {
    use saas_core::openapi::diff::removal_policy;
    let v1 = json!({"paths": {"/v1/a": {"get": {"responses": {}}}, "/v1/b": {"get": {"deprecated": true, "responses": {}}}}});
    let v2 = json!({"paths": {}});
    let changes = removal_policy(&[("v1".into(), v1), ("v2".into(), v2)]);
    let text: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(changes.len(), 1, "{text:?}");
    assert!(text[0].contains("/a"), "{text:?}");
}

/// How many times the response says it varies on `Api-Version` (once is right).
fn varies_on_version(headers: &http::HeaderMap) -> usize {
    headers
        .get_all("vary")
        .iter()
        .filter(|v| v.as_bytes().eq_ignore_ascii_case(b"api-version"))
        .count()
}
