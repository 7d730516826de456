//! Cross-tenant isolation checks driven by the app's own OpenAPI document: every route of the
//! API, tried by another tenant with real ids. The crate exports [`IsolationCheck`], whose page
//! says what is checked, and the shorthands [`assert_isolated`] and
//! [`assert_isolated_interleaved`].

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use proptest::arbitrary::any;
use proptest::sample::Index;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use saas_core::tenancy::registry::Tenant;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::app::{Client, TestApp, TestResponse};
use crate::env::TestEnv;

/// At most this many fillings of one operation's path parameters are tried.
const MAX_FILLS: usize = 64;
/// At most this many fillings are tried to create one resource under a parent.
const MAX_CREATE_ATTEMPTS: usize = 8;
/// How much of a body a message shows.
const EXCERPT: usize = 240;
/// How many re-runs a failing interleaving gets to shrink.
const SHRINK_BUDGET: u32 = 32;
/// The text of tenant A's generated bodies.
const PROBE: &str = "isolation-probe";
/// The text of tenant B's: a write by B that went through shows in A's reads.
const INTRUDER_PROBE: &str = "intrusion-probe";

/// Checks that two fresh tenants cannot see or touch each other's data through any route of
/// the app's newest served API version; panics listing every violation.
///
/// Shorthand for `IsolationCheck::new().assert(app, env)`; see [`IsolationCheck`] for what is
/// checked, and its options.
pub async fn assert_isolated(app: &TestApp, env: &TestEnv) {
    IsolationCheck::new().assert(app, env).await;
}

/// Random interleavings of the document's operations by three tenants: `cases` sequences of at
/// most 20 steps. Panics with the shrunk failing sequence and its seed.
///
/// Shorthand for `IsolationCheck::new().cases(cases).assert_interleaved(app, env)`.
pub async fn assert_isolated_interleaved(app: &TestApp, env: &TestEnv, cases: u32) {
    IsolationCheck::new()
        .cases(cases)
        .assert_interleaved(app, env)
        .await;
}

/// Proves, through HTTP, that tenants cannot see or touch each other's data: walks the app's
/// OpenAPI document and tries every route as another tenant. [`assert_isolated`] runs the
/// defaults.
///
/// # What [`assert_isolated`] proves
///
/// ```no_run
/// use saas_testkit::{TestEnv, assert_isolated, assert_isolated_interleaved};
///
/// # async fn demo() -> anyhow::Result<()> {
/// let env = TestEnv::builder().migrations(&taskboard::MIGRATIONS).start().await?;
/// let app = env
///     .app(taskboard::app(taskboard::Settings::new("admin-token", "a-secret-for-tests-0123456789abcdef")))
///     .await;
/// assert_isolated(&app, &env).await; // the newest served version's document
/// assert_isolated_interleaved(&app, &env, 8).await; // 8 random interleavings, 3 tenants
/// # Ok(()) }
/// ```
///
/// The check reads `/openapi/{version}.json` from the running app (the newest served version,
/// as linked from `/docs`, unless [`IsolationCheck::version`] names one), makes two fresh
/// tenants, A and B, and then:
///
/// 1. **A creates.** Every `POST` runs as A: routes without path parameters first, then those
///    whose parameters can be filled with ids A got back (`/v2/projects/{id}/tasks` with a
///    project's id), until nothing new can be created. Bodies are generated from the request
///    schema (see below). Every UUID under an id-like key (`id`, `*_id`, `*Id`) of A's responses
///    is one of A's ids.
/// 2. **A's reads are recorded.** Every `GET` with path parameters, filled with A's ids, as A;
///    the answers that succeed (status and body bytes) are kept.
/// 3. **B creates its own data**, the same way, so B's lists are not trivially empty.
/// 4. **B tries A's ids.** Every operation with path parameters (`GET`, then `POST`, `PUT`,
///    `PATCH`, and `DELETE` last), with each of A's ids in each parameter, as B: the answer must
///    be **404**. A 2xx is a leak, a 403 tells B that the resource exists, a 5xx is a crash;
///    anything else means the check's request never reached the lookup, and is reported too.
///    Bodies of these requests are generated with B's ids, so only the path is foreign.
///    Requests without path parameters whose body holds ids (`{"project_id": ..}`) are also
///    sent by B with A's ids there; they must fail with a 4xx other than 403.
/// 5. **B's reads hold none of A's ids**: every `GET` without path parameters (the lists), and
///    every `GET` with path parameters filled with B's own ids. The raw body is searched for
///    each of A's ids.
/// 6. **A's reads are unchanged**, byte for byte: B's writes and deletes changed nothing.
///
/// Every problem is collected; the panic lists them all (method, route, the path sent, status,
/// and the start of the body), with notes on what could not be covered. To inspect the result
/// without panicking, use [`IsolationCheck::report`].
///
/// # Generated bodies
///
/// The smallest body the schema accepts, as far as it says: `$ref`s are resolved; objects get
/// their `required` properties only; strings are `"isolation-probe"` (`"intrusion-probe"` in
/// tenant B's bodies, so that a write of B's that went through changes A's data), cut or padded to
/// `minLength`/`maxLength` (`format`s `uuid`, `date-time`, `date`, `email`, `uri` get a value of
/// that form; a `uuid` is one of the tenant's ids, preferring one whose kind matches the
/// property's name, `project_id` -> a project's); integers and numbers are 1, or the `minimum`
/// when there is one; booleans are `false`; enums and `const`s their first value; arrays are
/// empty unless `minItems`; `oneOf`/`anyOf` take the first branch that is not `null`, and
/// `allOf` merges its branches. `pattern` is not honoured: a route whose body needs one can be
/// left out with [`IsolationCheck::skip`] (and tested by hand).
///
/// # The interleaved variant
///
/// [`assert_isolated_interleaved`] (or [`IsolationCheck::assert_interleaved`]) uses proptest to
/// draw sequences of up to [`IsolationCheck::max_steps`] operations of the document by three
/// tenants (each seeded with the creation walk above). Each step is an operation, the tenant
/// that sends it, and whose ids fill its path. The invariant: a tenant's responses never hold
/// another tenant's ids, and another tenant's ids always answer 404. A failing sequence is
/// shrunk (with a bounded budget, on fresh tenants each try) and reported with the seed that
/// replays it ([`IsolationCheck::seed`]).
///
/// # Limits
///
/// The document must use path-prefix versioning (`/v2/...`, the default), and the app must be
/// served with an HS256 resolver ([`TestApp::as_tenant`]). Responses that change on their own
/// between two reads (a `now` timestamp, a counter) fail step 6: leave such routes out with
/// [`IsolationCheck::skip`].
///
/// # Options
///
/// ```no_run
/// use saas_testkit::IsolationCheck;
///
/// # async fn demo(app: saas_testkit::TestApp, env: saas_testkit::TestEnv) {
/// IsolationCheck::new()
///     .version("v1")                      // the deprecated version's document too
///     .skip("GET /v1/stats")              // a route whose answer changes by itself
///     .assert(&app, &env)
///     .await;
///
/// let report = IsolationCheck::new().report(&app, &env).await;
/// assert!(report.is_clean(), "{report}");
///
/// IsolationCheck::new().cases(4).max_steps(12).seed(7).assert_interleaved(&app, &env).await;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct IsolationCheck {
    version: Option<String>,
    skip: Vec<String>,
    cases: u32,
    max_steps: usize,
    tenants: usize,
    seed: Option<u64>,
}

impl Default for IsolationCheck {
    fn default() -> Self {
        IsolationCheck {
            version: None,
            skip: Vec::new(),
            cases: 8,
            max_steps: 20,
            tenants: 3,
            seed: None,
        }
    }
}

impl IsolationCheck {
    /// The defaults: the newest served document, every route, 8 interleavings of at most 20
    /// steps by 3 tenants, a random seed.
    pub fn new() -> Self {
        Self::default()
    }

    /// The document to walk: `"v1"` (or `"1"`), `"2026-01-15"`... Default: the newest served
    /// version, the one `/docs` shows.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Leaves out a route, as `"METHOD /path/{template}"` (one operation) or `"/path/{template}"`
    /// (all its methods), exactly as the document spells it. Repeatable.
    pub fn skip(mut self, route: impl Into<String>) -> Self {
        self.skip.push(route.into());
        self
    }

    /// How many random interleavings [`IsolationCheck::assert_interleaved`] runs (default 8).
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }

    /// The longest interleaving, in operations (default 20).
    pub fn max_steps(mut self, steps: usize) -> Self {
        self.max_steps = steps.max(1);
        self
    }

    /// How many tenants interleave (default 3, at least 2).
    pub fn tenants(mut self, tenants: usize) -> Self {
        self.tenants = tenants.max(2);
        self
    }

    /// The seed of the interleavings (default: random, printed on failure).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Runs the check (steps 1 to 6 above) and panics listing every violation.
    pub async fn assert(&self, app: &TestApp, env: &TestEnv) {
        let report = self.report(app, env).await;
        if !report.is_clean() {
            panic!("{report}");
        }
    }

    /// Runs the check and returns what it found, without panicking (it still panics when the
    /// document cannot be had).
    pub async fn report(&self, app: &TestApp, env: &TestEnv) -> IsolationReport {
        let (source, document) = self.document(app).await;
        let api = Api::parse(&document, &self.skip);
        let a = env.tenant("isolation-a").await;
        let b = env.tenant("isolation-b").await;
        let (as_a, as_b) = (app.as_tenant(&a), app.as_tenant(&b));
        let mut report = IsolationReport {
            document: source,
            tenants: [a.slug.clone(), b.slug.clone()],
            requests: 0,
            violations: Vec::new(),
            notes: api.notes.clone(),
        };

        // 1. A creates.
        let mut a_ids = Ids::default();
        create_all(&api, &as_a, "A", PROBE, &mut a_ids, &mut report).await;
        if a_ids.is_empty() {
            let creators = api.ops.iter().filter(|op| op.method == "POST").count();
            report.violations.push(Violation::setup(format!(
                "tenant A created nothing ({creators} POST operations in the document), so no \
                 route could be tried with another tenant's id: the check proves nothing"
            )));
        }

        // 2. A's reads, recorded.
        let before = snapshot(&api, &as_a, &a_ids, &mut report).await;
        let reads = api
            .ops
            .iter()
            .filter(|op| op.method == "GET" && !op.params.is_empty());
        if !a_ids.is_empty() && before.is_empty() && reads.count() > 0 {
            report.notes.push(
                "tenant A could read none of its ids back: nothing to compare after B's requests"
                    .into(),
            );
        }

        // 3. B creates its own data.
        let mut b_ids = Ids::default();
        create_all(&api, &as_b, "B", INTRUDER_PROBE, &mut b_ids, &mut report).await;

        // 4. B tries A's ids, in every path parameter, then in bodies.
        let mut attacks: Vec<&Operation> =
            api.ops.iter().filter(|op| !op.params.is_empty()).collect();
        attacks.sort_by_key(|op| method_order(&op.method));
        for op in attacks {
            let fills = fills(op.params.len(), |_| a_ids.all.clone());
            if fills.len() == MAX_FILLS {
                report.notes.push(format!(
                    "{}: only the first {MAX_FILLS} fillings of its path were tried",
                    op.route()
                ));
            }
            for fill in fills {
                let path = op.path(&fill);
                let body = op.body_value(&api.document, &b_ids, INTRUDER_PROBE);
                let response = as_b.send(&op.method, &path, body.as_ref()).await;
                report.requests += 1;
                if response.status != 404 {
                    report.violations.push(Violation::from_response(
                        op,
                        &path,
                        &response,
                        "404",
                        foreign_id_problem(response.status, &op.method),
                    ));
                }
            }
        }
        for op in api
            .ops
            .iter()
            .filter(|op| op.params.is_empty() && op.takes_ids(&api.document))
        {
            let body = op.body_value(&api.document, &a_ids, INTRUDER_PROBE);
            let response = as_b.send(&op.method, &op.path(&[]), body.as_ref()).await;
            report.requests += 1;
            let status = response.status;
            if !(400..500).contains(&status) || status == 403 {
                let problem = match status {
                    200..=299 => "tenant B's request holding tenant A's ids in its body succeeded",
                    403 => "403 tells tenant B that tenant A's resource exists: answer 404 or 422",
                    500..=599 => "a server error answered ids of another tenant in the body",
                    _ => "ids of another tenant in the body must be refused (404 or 422)",
                };
                report.violations.push(Violation::from_response(
                    op,
                    &op.path(&[]),
                    &response,
                    "a 4xx other than 403",
                    problem.into(),
                ));
            }
        }

        // 5. B's reads hold none of A's ids.
        for op in api.ops.iter().filter(|op| op.method == "GET") {
            let paths: Vec<String> = if op.params.is_empty() {
                vec![op.path(&[])]
            } else {
                fills(op.params.len(), |i| b_ids.candidates(&op.stems[i]))
                    .iter()
                    .map(|fill| op.path(fill))
                    .collect()
            };
            for path in paths {
                let response = as_b.send("GET", &path, None).await;
                report.requests += 1;
                let leaked = a_ids.found_in(&response.body);
                if !leaked.is_empty() {
                    report.violations.push(Violation::from_response(
                        op,
                        &path,
                        &response,
                        "none of tenant A's ids",
                        format!("tenant B's read holds tenant A's ids {}", join(&leaked)),
                    ));
                }
            }
        }

        // 6. A's reads are unchanged.
        for (path, status, body) in &before {
            let response = as_a.get(path).await;
            report.requests += 1;
            if response.status != *status || &response.body != body {
                report.violations.push(Violation {
                    method: "GET".into(),
                    route: api.route_of("GET", path),
                    path: path.clone(),
                    status: response.status,
                    expected: format!("{status}, the same body as before tenant B's requests"),
                    problem: format!(
                        "tenant A's resource changed while only tenant B sent requests; before: \
                         {status} {}",
                        excerpt(body)
                    ),
                    excerpt: excerpt(&response.body),
                });
            }
        }
        report
    }

    /// Random interleavings (see above): panics with the shortest failing sequence
    /// found, its violations and the seed.
    pub async fn assert_interleaved(&self, app: &TestApp, env: &TestEnv) {
        let (source, document) = self.document(app).await;
        let api = Api::parse(&document, &self.skip);
        if api.ops.is_empty() {
            panic!("isolation check: {source} has no operation to interleave");
        }
        let seed = self.seed.unwrap_or_else(|| {
            let bytes = Uuid::new_v4().into_bytes();
            u64::from_le_bytes([
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            ])
        });
        let mut seed_bytes = [0u8; 32];
        seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
        );
        let n = self.tenants;
        let strategy = proptest::collection::vec(
            (0..n, any::<Index>(), 0..n, any::<Index>()).prop_map(|(actor, op, owner, id)| Step {
                actor,
                op,
                owner,
                id,
            }),
            1..=self.max_steps,
        );
        for case in 0..self.cases {
            let mut tree = strategy
                .new_tree(&mut runner)
                .unwrap_or_else(|e| panic!("isolation check: drawing an interleaving: {e}"));
            let Some(failure) = run_interleaving(&api, app, env, n, &tree.current()).await else {
                continue;
            };
            let mut smallest = failure;
            let mut budget = SHRINK_BUDGET;
            if tree.simplify() {
                while budget > 0 {
                    budget -= 1;
                    match run_interleaving(&api, app, env, n, &tree.current()).await {
                        Some(failure) => {
                            smallest = failure;
                            if !tree.simplify() {
                                break;
                            }
                        }
                        None => {
                            if !tree.complicate() {
                                break;
                            }
                        }
                    }
                }
            }
            panic!(
                "tenant isolation violated in interleaving {} of {} ({source}, seed {seed}; replay \
                 with IsolationCheck::new().seed({seed})):\n{smallest}",
                case + 1,
                self.cases
            );
        }
    }

    /// The document to walk, and where it came from.
    async fn document(&self, app: &TestApp) -> (String, Value) {
        let client = app.anonymous();
        let segment = match &self.version {
            Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => format!("v{v}"),
            Some(v) => v.clone(),
            None => {
                let docs = client.get("/docs").await;
                let html = String::from_utf8_lossy(&docs.body);
                newest_from_docs(&html).unwrap_or_else(|| {
                    panic!(
                        "isolation check: /docs answered {} without a link to /openapi/VERSION.json; \
                         is a versioned API (SaasAppBuilder::api) served? Name the version with \
                         IsolationCheck::version",
                        docs.status
                    )
                })
            }
        };
        let path = format!("/openapi/{segment}.json");
        let response = client.get(&path).await;
        if response.status != 200 {
            panic!(
                "isolation check: {path} answered {}: {}",
                response.status,
                excerpt(&response.body)
            );
        }
        let document: Value = serde_json::from_slice(&response.body)
            .unwrap_or_else(|e| panic!("isolation check: {path} is not JSON: {e}"));
        (path, document)
    }
}

/// The version segment of the document `/docs` links to (`/openapi/v2.json` -> `v2`).
fn newest_from_docs(html: &str) -> Option<String> {
    let start = html.find("/openapi/")? + "/openapi/".len();
    let rest = &html[start..];
    let end = rest.find(".json")?;
    let segment = &rest[..end];
    (!segment.is_empty() && !segment.contains(['"', '/', '<'])).then(|| segment.to_string())
}

fn method_order(method: &str) -> u8 {
    match method {
        "GET" => 0,
        "POST" => 1,
        "PUT" => 2,
        "PATCH" => 3,
        _ => 4,
    }
}

fn foreign_id_problem(status: u16, method: &str) -> String {
    match status {
        200..=299 if method == "GET" => "tenant B read tenant A's resource".into(),
        200..=299 => "tenant B's request on tenant A's resource succeeded".into(),
        403 => {
            "403 tells tenant B that tenant A's resource exists: answer 404, as for a missing one"
                .into()
        }
        500..=599 => "a server error instead of 404 for another tenant's id".into(),
        _ => "not 404: the request may have been refused before the lookup (check the generated \
              body, or skip the route)"
            .into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

/// What [`IsolationCheck::report`] found. Its `Display` is the panic message of
/// [`assert_isolated`].
#[derive(Debug, Clone)]
pub struct IsolationReport {
    document: String,
    tenants: [String; 2],
    requests: usize,
    violations: Vec<Violation>,
    notes: Vec<String>,
}

impl IsolationReport {
    /// No violation.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Every violation, in the order found.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// What could not be covered (a route that could not be filled, a resource A could not
    /// create); not failures by themselves.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// How many requests the check sent.
    pub fn requests(&self) -> usize {
        self.requests
    }
}

impl fmt::Display for IsolationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b] = &self.tenants;
        if self.is_clean() {
            write!(
                f,
                "tenant isolation holds: {} requests from {}, tenants A = {a}, B = {b}",
                self.requests, self.document
            )?;
        } else {
            write!(
                f,
                "tenant isolation violated: {} problem(s) in {} requests from {} (tenant A = {a}, \
                 tenant B = {b}):",
                self.violations.len(),
                self.requests,
                self.document
            )?;
            for v in &self.violations {
                write!(f, "\n  - {v}")?;
            }
        }
        if !self.notes.is_empty() {
            write!(f, "\nnot covered:")?;
            for note in &self.notes {
                write!(f, "\n  - {note}")?;
            }
        }
        Ok(())
    }
}

/// One request whose answer broke isolation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `GET`, `POST`...
    pub method: String,
    /// The route as the document spells it (`/v2/projects/{id}`).
    pub route: String,
    /// The path sent.
    pub path: String,
    /// The status received.
    pub status: u16,
    /// What was expected instead.
    pub expected: String,
    /// What went wrong, in words.
    pub problem: String,
    /// The start of the response body.
    pub excerpt: String,
}

impl Violation {
    fn from_response(
        op: &Operation,
        path: &str,
        response: &TestResponse,
        expected: &str,
        problem: String,
    ) -> Violation {
        Violation {
            method: op.method.clone(),
            route: op.template.clone(),
            path: path.to_string(),
            status: response.status,
            expected: expected.into(),
            problem,
            excerpt: excerpt(&response.body),
        }
    }

    fn setup(problem: String) -> Violation {
        Violation {
            method: String::new(),
            route: String::new(),
            path: String::new(),
            status: 0,
            expected: String::new(),
            problem,
            excerpt: String::new(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.method.is_empty() {
            return f.write_str(&self.problem);
        }
        write!(
            f,
            "{} {} ({}): {}, expected {}: {}",
            self.method, self.route, self.path, self.status, self.expected, self.problem
        )?;
        if !self.excerpt.is_empty() {
            write!(f, "; body: {}", self.excerpt)?;
        }
        Ok(())
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn join(ids: &[Uuid]) -> String {
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// The document.

/// The operations of one document that the check can send.
#[derive(Debug)]
struct Api {
    document: Value,
    ops: Vec<Operation>,
    notes: Vec<String>,
}

/// One operation of the document.
#[derive(Debug, Clone)]
struct Operation {
    method: String,
    template: String,
    /// Path parameters, in path order.
    params: Vec<String>,
    /// The kind of id each parameter takes (`projects/{id}` -> `project`).
    stems: Vec<String>,
    /// `name=value` of the required query parameters.
    query: Vec<(String, String)>,
    /// The JSON request body's schema.
    body: Option<Value>,
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

impl Api {
    fn parse(document: &Value, skip: &[String]) -> Api {
        let mut ops = Vec::new();
        let mut notes = Vec::new();
        let paths = document.get("paths").and_then(Value::as_object);
        for (template, item) in paths.into_iter().flatten() {
            let item = resolve(document, item);
            let shared = item.get("parameters").and_then(Value::as_array);
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let method = method.to_ascii_uppercase();
                let route = format!("{method} {template}");
                if skip.iter().any(|s| s == &route || s == template) {
                    continue;
                }
                let params = path_params(template);
                let mut query = Vec::new();
                let mut unfillable = None;
                let all = shared.into_iter().flatten().chain(
                    op.get("parameters")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten(),
                );
                for param in all {
                    let param = resolve(document, param);
                    let name = param
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let schema = param.get("schema").map(|s| resolve(document, s));
                    match param.get("in").and_then(Value::as_str) {
                        Some("path") if !takes_id(document, schema) => {
                            unfillable = Some(name.to_string());
                        }
                        Some("query") if param.get("required") == Some(&Value::Bool(true)) => {
                            let value = Generator::new(document, &Ids::default(), PROBE)
                                .value(schema.unwrap_or(&Value::Null), name);
                            let text = match value {
                                Value::String(s) => s,
                                other => other.to_string(),
                            };
                            query.push((name.to_string(), text));
                        }
                        _ => {}
                    }
                }
                if let Some(name) = unfillable {
                    notes.push(format!(
                        "{route}: its path parameter {name:?} does not take an id (a UUID or a string)"
                    ));
                    continue;
                }
                let body = op
                    .get("requestBody")
                    .map(|b| resolve(document, b))
                    .and_then(|b| b.get("content"))
                    .and_then(Value::as_object)
                    .and_then(|content| {
                        content
                            .iter()
                            .find(|(media, _)| media.contains("json"))
                            .and_then(|(_, c)| c.get("schema"))
                            .cloned()
                    });
                let stems = param_stems(template, &params);
                ops.push(Operation {
                    method,
                    template: template.clone(),
                    params,
                    stems,
                    query,
                    body,
                });
            }
        }
        Api {
            document: document.clone(),
            ops,
            notes,
        }
    }

    /// The document's route of a concrete path sent with `method`.
    fn route_of(&self, method: &str, path: &str) -> String {
        self.ops
            .iter()
            .find(|op| op.method == method && matches_template(&op.template, path))
            .map(|op| op.template.clone())
            .unwrap_or_else(|| path.to_string())
    }
}

impl Operation {
    fn route(&self) -> String {
        format!("{} {}", self.method, self.template)
    }

    /// The path with `ids` in its parameters, in order, and the required query.
    fn path(&self, ids: &[Uuid]) -> String {
        let mut path = self.template.clone();
        for (name, id) in self.params.iter().zip(ids) {
            path = path.replacen(&format!("{{{name}}}"), &id.to_string(), 1);
        }
        if !self.query.is_empty() {
            let query: Vec<String> = self
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            path = format!("{path}?{}", query.join("&"));
        }
        path
    }

    /// A generated body, when the operation takes one; its UUIDs are from `ids`, its text
    /// `probe`.
    fn body_value(&self, document: &Value, ids: &Ids, probe: &str) -> Option<Value> {
        self.body
            .as_ref()
            .map(|schema| Generator::new(document, ids, probe).value(schema, ""))
    }

    /// Whether the generated body holds an id.
    fn takes_ids(&self, document: &Value) -> bool {
        let Some(schema) = &self.body else {
            return false;
        };
        let marker = Uuid::from_u128(0x1505_a7e0_0000_4000_8000_0000_0000_0001);
        let ids = Ids {
            all: vec![marker],
            ..Ids::default()
        };
        let body = Generator::new(document, &ids, PROBE).value(schema, "");
        body.to_string().contains(&marker.to_string())
    }
}

fn path_params(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

/// The kind of id each parameter takes: its name without `_id`/`Id` when it says one
/// (`{project_id}`), else the static segment before it (`/projects/{id}`), singular.
fn param_stems(template: &str, params: &[String]) -> Vec<String> {
    let segments: Vec<&str> = template.split('/').collect();
    params
        .iter()
        .map(|name| {
            if let Some(stem) = id_key_stem(name).filter(|s| !s.is_empty()) {
                return stem;
            }
            let at = segments
                .iter()
                .position(|s| *s == format!("{{{name}}}"))
                .unwrap_or(0);
            segments[..at]
                .iter()
                .rev()
                .find(|s| !s.is_empty() && !s.starts_with('{'))
                .map(|s| singular(s))
                .unwrap_or_default()
        })
        .collect()
}

fn matches_template(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
}

/// Whether a path parameter of this schema can hold an id (a UUID, or any string).
fn takes_id(document: &Value, schema: Option<&Value>) -> bool {
    let Some(schema) = schema else { return true };
    let schema = resolve(document, schema);
    match schema.get("type") {
        None => true,
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
        Some(_) => false,
    }
}

/// Follows `$ref`s within the document (at most 32, against cycles).
fn resolve<'a>(document: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..32 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return value;
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            return value;
        };
        match document.pointer(pointer) {
            Some(target) => value = target,
            None => return value,
        }
    }
    value
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Ids.

/// Ids a tenant got back from its creations, in the order seen, by kind.
#[derive(Debug, Clone, Default)]
struct Ids {
    all: Vec<Uuid>,
    /// Kind (`project`) -> ids of that kind.
    by_kind: HashMap<String, Vec<Uuid>>,
}

impl Ids {
    fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    fn contains(&self, id: &Uuid) -> bool {
        self.all.contains(id)
    }

    fn add(&mut self, kind: &str, id: Uuid) {
        if !self.all.contains(&id) {
            self.all.push(id);
        }
        if !kind.is_empty() {
            let ids = self.by_kind.entry(kind.to_string()).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }

    /// Records the ids of a creation's response: the top-level `id` is of `kind` (the
    /// collection created in); `project_id` and the like are of their own kind.
    fn record(&mut self, kind: &str, body: &Value) {
        for (key, id, depth) in ids_in(body) {
            let id_kind = match id_key_stem(&key) {
                Some(stem) if !stem.is_empty() => stem,
                _ if depth == 0 => kind.to_string(),
                _ => String::new(),
            };
            self.add(&id_kind, id);
        }
    }

    /// Ids of `kind` first, then the others.
    fn candidates(&self, kind: &str) -> Vec<Uuid> {
        let mut out: Vec<Uuid> = self.by_kind.get(kind).cloned().unwrap_or_default();
        for id in &self.all {
            if !out.contains(id) {
                out.push(*id);
            }
        }
        out
    }

    /// Which of these ids appear in a body (case-insensitively, hyphenated or simple).
    fn found_in(&self, body: &[u8]) -> Vec<Uuid> {
        let text = String::from_utf8_lossy(body).to_ascii_lowercase();
        self.all
            .iter()
            .filter(|id| {
                text.contains(&id.hyphenated().to_string())
                    || text.contains(&id.simple().to_string())
            })
            .copied()
            .collect()
    }
}

/// `(key, id, depth)` of every UUID under an id-like key; depth 0 is the top-level object.
fn ids_in(body: &Value) -> Vec<(String, Uuid, usize)> {
    fn walk(value: &Value, depth: usize, out: &mut Vec<(String, Uuid, usize)>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    if let Value::String(text) = value
                        && id_key_stem(key).is_some()
                        && let Ok(id) = Uuid::parse_str(text)
                    {
                        out.push((key.clone(), id, depth));
                    } else {
                        walk(value, depth + 1, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, depth + 1, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(body, 0, &mut out);
    out
}

/// `Some(kind)` for an id-like key: `id`/`uuid` -> `""`, `project_id`/`projectId` -> `project`.
fn id_key_stem(key: &str) -> Option<String> {
    if key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("uuid") {
        return Some(String::new());
    }
    key.strip_suffix("_id")
        .or_else(|| key.strip_suffix("Id"))
        .or_else(|| key.strip_suffix("_uuid"))
        .map(|stem| stem.to_ascii_lowercase())
}

fn singular(word: &str) -> String {
    let word = word.to_ascii_lowercase();
    if let Some(stem) = word.strip_suffix("ies") {
        format!("{stem}y")
    } else if word.ends_with("ss") {
        word
    } else {
        word.strip_suffix('s').map(str::to_string).unwrap_or(word)
    }
}

/// Fillings of `n` parameters from per-parameter candidates, at most [`MAX_FILLS`].
fn fills(n: usize, candidates: impl Fn(usize) -> Vec<Uuid>) -> Vec<Vec<Uuid>> {
    let mut out: Vec<Vec<Uuid>> = vec![Vec::new()];
    for i in 0..n {
        let options = candidates(i);
        let mut next = Vec::new();
        'outer: for prefix in &out {
            for id in &options {
                if next.len() == MAX_FILLS {
                    break 'outer;
                }
                let mut fill = prefix.clone();
                fill.push(*id);
                next.push(fill);
            }
        }
        out = next;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The walk.

/// Every `POST` as `client`: without path parameters first, then under the ids created so far,
/// until nothing new can be created.
async fn create_all(
    api: &Api,
    client: &Client<'_>,
    who: &str,
    probe: &str,
    ids: &mut Ids,
    report: &mut IsolationReport,
) {
    let creators: Vec<&Operation> = api.ops.iter().filter(|op| op.method == "POST").collect();
    let mut failures: HashMap<String, String> = HashMap::new();
    for op in creators.iter().filter(|op| op.params.is_empty()) {
        let body = op.body_value(&api.document, ids, probe);
        let response = client.send("POST", &op.path(&[]), body.as_ref()).await;
        report.requests += 1;
        if is_success(response.status) {
            ids.record(&creation_kind(&op.template), &response.value());
        } else {
            failures.insert(op.route(), answer(&response));
        }
    }
    let mut pending: Vec<&Operation> = creators
        .into_iter()
        .filter(|op| !op.params.is_empty())
        .collect();
    loop {
        let mut progressed = false;
        let mut still = Vec::new();
        for op in pending {
            if ids.is_empty() {
                failures.insert(op.route(), "no id to fill its path with".into());
                still.push(op);
                continue;
            }
            let mut created = false;
            let attempts = fills(op.params.len(), |i| ids.candidates(&op.stems[i]));
            for fill in attempts.into_iter().take(MAX_CREATE_ATTEMPTS) {
                let body = op.body_value(&api.document, ids, probe);
                let path = op.path(&fill);
                let response = client.send("POST", &path, body.as_ref()).await;
                report.requests += 1;
                if is_success(response.status) {
                    ids.record(&creation_kind(&op.template), &response.value());
                    failures.remove(&op.route());
                    created = true;
                    break;
                }
                failures.insert(op.route(), answer(&response));
            }
            if created {
                progressed = true;
            } else {
                still.push(op);
            }
        }
        pending = still;
        if !progressed || pending.is_empty() {
            break;
        }
    }
    let mut failures: Vec<_> = failures.into_iter().collect();
    failures.sort();
    for (route, why) in failures {
        report.notes.push(format!(
            "{route}: tenant {who} could not create through it ({why})"
        ));
    }
}

/// Every `GET` with path parameters filled with `ids`, as `client`: the successful answers.
async fn snapshot(
    api: &Api,
    client: &Client<'_>,
    ids: &Ids,
    report: &mut IsolationReport,
) -> Vec<(String, u16, Vec<u8>)> {
    let mut out = Vec::new();
    if ids.is_empty() {
        return out;
    }
    for op in api
        .ops
        .iter()
        .filter(|op| op.method == "GET" && !op.params.is_empty())
    {
        for fill in fills(op.params.len(), |i| ids.candidates(&op.stems[i])) {
            let path = op.path(&fill);
            let response = client.get(&path).await;
            report.requests += 1;
            if is_success(response.status) {
                out.push((path, response.status, response.body));
            }
        }
    }
    out
}

/// The kind of the resources a `POST` creates: its last static segment, singular.
fn creation_kind(template: &str) -> String {
    template
        .rsplit('/')
        .find(|s| !s.is_empty() && !s.starts_with('{'))
        .map(singular)
        .unwrap_or_default()
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

fn answer(response: &TestResponse) -> String {
    format!(
        "last answer {} {}",
        response.status,
        excerpt(&response.body)
    )
}

// ---------------------------------------------------------------------------------------------
// Interleavings.

/// One step of an interleaving: tenant `actor` sends operation `op`, its path filled with ids
/// of tenant `owner` (picked by `id`).
#[derive(Debug, Clone)]
struct Step {
    actor: usize,
    op: Index,
    owner: usize,
    id: Index,
}

/// A failing interleaving: what was sent, and what broke.
#[derive(Debug)]
struct InterleavingFailure {
    log: Vec<String>,
    violations: Vec<String>,
}

impl fmt::Display for InterleavingFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "steps:")?;
        for line in &self.log {
            write!(f, "\n  {line}")?;
        }
        write!(f, "\nviolations:")?;
        for v in &self.violations {
            write!(f, "\n  - {v}")?;
        }
        Ok(())
    }
}

/// Runs one interleaving on fresh tenants; `None` when isolation held.
async fn run_interleaving(
    api: &Api,
    app: &TestApp,
    env: &TestEnv,
    n: usize,
    steps: &[Step],
) -> Option<InterleavingFailure> {
    let mut tenants: Vec<Tenant> = Vec::with_capacity(n);
    for i in 0..n {
        tenants.push(env.tenant(&format!("interleave-{i}")).await);
    }
    let clients: Vec<Client<'_>> = tenants.iter().map(|t| app.as_tenant(t)).collect();
    let mut pools = vec![Ids::default(); n];
    let mut scratch = IsolationReport {
        document: String::new(),
        tenants: [String::new(), String::new()],
        requests: 0,
        violations: Vec::new(),
        notes: Vec::new(),
    };
    let mut log = Vec::new();
    let mut violations = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        create_all(
            api,
            client,
            &format!("t{i}"),
            PROBE,
            &mut pools[i],
            &mut scratch,
        )
        .await;
        log.push(format!("t{i} seeds {} ids", pools[i].all.len()));
    }
    if pools.iter().all(Ids::is_empty) {
        let notes = scratch.notes.join("; ");
        violations.push(format!(
            "no tenant could create anything, so no step can use another tenant's id: the check \
             proves nothing ({notes})"
        ));
        return Some(InterleavingFailure { log, violations });
    }
    for step in steps {
        let op = &api.ops[step.op.index(api.ops.len())];
        let (actor, owner) = (step.actor, step.owner);
        let mut fill = Vec::new();
        if !op.params.is_empty() {
            let pool = &pools[owner].all;
            if pool.is_empty() {
                log.push(format!(
                    "t{actor} {}: t{owner} has no ids, skipped",
                    op.route()
                ));
                continue;
            }
            let first = step.id.index(pool.len());
            fill = (0..op.params.len())
                .map(|k| pool[(first + k) % pool.len()])
                .collect();
        }
        let path = op.path(&fill);
        let body = op.body_value(&api.document, &pools[actor], PROBE);
        let response = clients[actor].send(&op.method, &path, body.as_ref()).await;
        let foreign = !op.params.is_empty() && owner != actor;
        log.push(format!(
            "t{actor} {} {path}{} -> {}",
            op.method,
            if foreign {
                format!(" (t{owner}'s id)")
            } else {
                String::new()
            },
            response.status
        ));
        if foreign && response.status != 404 {
            violations.push(format!(
                "t{actor} {} {} ({path}) with t{owner}'s id: {}, expected 404; body: {}",
                op.method,
                op.template,
                response.status,
                excerpt(&response.body)
            ));
        }
        let mut leaked = BTreeSet::new();
        for (other, pool) in pools.iter().enumerate() {
            if other != actor {
                leaked.extend(
                    pool.found_in(&response.body)
                        .into_iter()
                        .map(|id| (other, id)),
                );
            }
        }
        if !leaked.is_empty() {
            let ids: Vec<String> = leaked
                .iter()
                .map(|(t, id)| format!("t{t}'s {id}"))
                .collect();
            violations.push(format!(
                "t{actor} {} {} ({path}): the answer holds {}; body: {}",
                op.method,
                op.template,
                ids.join(", "),
                excerpt(&response.body)
            ));
        }
        if op.method == "POST" && !foreign && is_success(response.status) {
            let value = response.value();
            let kind = creation_kind(&op.template);
            for (key, id, depth) in ids_in(&value) {
                if pools
                    .iter()
                    .enumerate()
                    .any(|(t, p)| t != actor && p.contains(&id))
                {
                    continue;
                }
                let id_kind = match id_key_stem(&key) {
                    Some(stem) if !stem.is_empty() => stem,
                    _ if depth == 0 => kind.clone(),
                    _ => String::new(),
                };
                pools[actor].add(&id_kind, id);
            }
        }
    }
    (!violations.is_empty()).then_some(InterleavingFailure { log, violations })
}

// ---------------------------------------------------------------------------------------------
// Bodies.

/// Generates the smallest body a schema accepts (see [`IsolationCheck`]).
struct Generator<'a> {
    document: &'a Value,
    ids: &'a Ids,
    probe: &'a str,
}

impl<'a> Generator<'a> {
    fn new(document: &'a Value, ids: &'a Ids, probe: &'a str) -> Self {
        Generator {
            document,
            ids,
            probe,
        }
    }

    /// A value of `schema`; `name` is the property it is for (picks the kind of a UUID).
    fn value(&self, schema: &Value, name: &str) -> Value {
        self.at_depth(schema, name, 0)
    }

    fn at_depth(&self, schema: &Value, name: &str, depth: usize) -> Value {
        if depth > 16 {
            return Value::Null;
        }
        let schema = resolve(self.document, schema);
        let Some(obj) = schema.as_object() else {
            return Value::Null;
        };
        if let Some(value) = obj.get("const") {
            return value.clone();
        }
        if let Some(first) = obj
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.iter().find(|v| !v.is_null()))
        {
            return first.clone();
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(branches) = obj.get(key).and_then(Value::as_array) {
                let branch = branches
                    .iter()
                    .find(|b| !is_null_schema(resolve(self.document, b)))
                    .or_else(|| branches.first());
                if let Some(branch) = branch {
                    return self.at_depth(branch, name, depth + 1);
                }
            }
        }
        if let Some(branches) = obj.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            for branch in branches {
                match self.at_depth(branch, name, depth + 1) {
                    Value::Object(part) => merged.extend(part),
                    other if branches.len() == 1 => return other,
                    _ => {}
                }
            }
            return Value::Object(merged);
        }
        let kind = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            _ if obj.contains_key("properties") => "object",
            _ if obj.contains_key("items") => "array",
            _ => "object",
        };
        match kind {
            "object" => {
                let mut out = Map::new();
                let properties = obj.get("properties").and_then(Value::as_object);
                let required = obj.get("required").and_then(Value::as_array);
                for key in required.into_iter().flatten().filter_map(Value::as_str) {
                    let property = properties.and_then(|p| p.get(key)).unwrap_or(&Value::Null);
                    let value = if property.is_null() {
                        Value::String(self.probe.into())
                    } else {
                        self.at_depth(property, key, depth + 1)
                    };
                    out.insert(key.to_string(), value);
                }
                Value::Object(out)
            }
            "array" => {
                let n = obj
                    .get("minItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .min(8);
                let item = obj.get("items").unwrap_or(&Value::Null);
                Value::Array(
                    (0..n)
                        .map(|_| self.at_depth(item, name, depth + 1))
                        .collect(),
                )
            }
            "string" => self.string(obj, name),
            "integer" => Value::from(integer(obj)),
            "number" => number(obj),
            "boolean" => Value::Bool(false),
            _ => Value::Null,
        }
    }

    fn string(&self, schema: &Map<String, Value>, name: &str) -> Value {
        let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
        let text = match format {
            "uuid" => {
                let kind = id_key_stem(name).unwrap_or_default();
                let id = self
                    .ids
                    .candidates(&kind)
                    .first()
                    .copied()
                    .unwrap_or_else(Uuid::nil);
                return Value::String(id.to_string());
            }
            "date-time" => "2026-01-01T00:00:00Z".to_string(),
            "date" => "2026-01-01".to_string(),
            "time" => "00:00:00Z".to_string(),
            "email" => format!("{}@example.com", self.probe),
            "uri" | "url" => format!("https://example.com/{}", self.probe),
            "ipv4" => "192.0.2.1".to_string(),
            "ipv6" => "2001:db8::1".to_string(),
            _ => {
                let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
                let max = schema
                    .get("maxLength")
                    .and_then(Value::as_u64)
                    .map(|m| m as usize);
                let mut text = self.probe.to_string();
                while text.len() < min {
                    text.push('-');
                    text.push_str(self.probe);
                }
                let cut = max.unwrap_or(usize::MAX).max(min);
                text.truncate(cut.min(text.len()));
                text
            }
        };
        Value::String(text)
    }
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type") == Some(&Value::String("null".into()))
}

/// 1, or the minimum (an exclusive one plus one), within the maximum.
fn integer(schema: &Map<String, Value>) -> i64 {
    let min = schema
        .get("minimum")
        .and_then(Value::as_f64)
        .map(|m| m.ceil() as i64);
    let exclusive = match schema.get("exclusiveMinimum") {
        Some(Value::Number(n)) => n.as_f64().map(|m| m.floor() as i64 + 1),
        Some(Value::Bool(true)) => min.map(|m| m + 1),
        _ => None,
    };
    let mut value = exclusive.or(min).unwrap_or(1);
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        value = value.min(max.floor() as i64);
    }
    value
}

fn number(schema: &Map<String, Value>) -> Value {
    let min = schema.get("minimum").and_then(Value::as_f64);
    let exclusive = match schema.get("exclusiveMinimum") {
        Some(Value::Number(n)) => n.as_f64().map(|m| m + 1.0),
        Some(Value::Bool(true)) => min.map(|m| m + 1.0),
        _ => None,
    };
    let mut value = exclusive.or(min).unwrap_or(1.0);
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        value = value.min(max);
    }
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn generate(document: &Value, schema: Value) -> Value {
        Generator::new(document, &Ids::default(), PROBE).value(&schema, "")
    }

    #[test]
    fn bodies_hold_required_properties_only_with_refs_resolved() {
        let document = json!({"components": {"schemas": {
            "Status": {"type": "string", "enum": ["todo", "doing"]},
            "TaskInput": {
                "type": "object",
                "required": ["title", "status", "tags", "done", "weight", "owner"],
                "properties": {
                    "title": {"type": "string"},
                    "status": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Status"}]},
                    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "done": {"type": "boolean"},
                    "weight": {"type": "integer", "minimum": 3},
                    "owner": {"type": ["object", "null"], "required": ["name"],
                              "properties": {"name": {"type": "string", "maxLength": 4}}},
                    "note": {"type": "string"}
                }
            }
        }}});
        let body = generate(&document, json!({"$ref": "#/components/schemas/TaskInput"}));
        assert_eq!(
            body,
            json!({
                "title": "isolation-probe",
                "status": "todo",
                "tags": ["isolation-probe"],
                "done": false,
                "weight": 3,
                "owner": {"name": "isol"}
            })
        );
    }

    #[test]
    fn strings_respect_their_length_bounds_and_formats() {
        let doc = Value::Null;
        assert_eq!(
            generate(&doc, json!({"type": "string", "maxLength": 3})),
            json!("iso")
        );
        let long = generate(&doc, json!({"type": "string", "minLength": 20}));
        assert!(long.as_str().unwrap().len() >= 20, "{long}");
        let bounded = generate(
            &doc,
            json!({"type": "string", "minLength": 20, "maxLength": 22}),
        );
        assert!(
            (20..=22).contains(&bounded.as_str().unwrap().len()),
            "{bounded}"
        );
        assert_eq!(
            generate(&doc, json!({"type": "string", "format": "date"})),
            json!("2026-01-01")
        );
        assert_eq!(
            generate(
                &doc,
                json!({"type": "integer", "exclusiveMinimum": 0, "maximum": 100})
            ),
            json!(1)
        );
        assert_eq!(
            generate(&doc, json!({"type": "number", "minimum": 2.5})),
            json!(2.5)
        );
        assert_eq!(
            generate(
                &doc,
                json!({"anyOf": [{"type": "null"}, {"type": "boolean"}]})
            ),
            json!(false)
        );
        assert_eq!(
            generate(
                &doc,
                json!({"allOf": [
                    {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}},
                    {"type": "object", "required": ["b"], "properties": {"b": {"const": "x"}}}
                ]})
            ),
            json!({"a": 1, "b": "x"})
        );
    }

    #[test]
    fn uuid_fields_take_an_id_of_the_kind_their_name_says() {
        let (project, task) = (Uuid::new_v4(), Uuid::new_v4());
        let mut ids = Ids::default();
        ids.add("task", task);
        ids.add("project", project);
        let schema = json!({"type": "object", "required": ["project_id", "id"], "properties": {
            "project_id": {"type": "string", "format": "uuid"},
            "id": {"type": "string", "format": "uuid"}
        }});
        let body = Generator::new(&Value::Null, &ids, PROBE).value(&schema, "");
        assert_eq!(
            body,
            json!({"project_id": project.to_string(), "id": task.to_string()})
        );
    }

    #[test]
    fn ids_are_recorded_by_kind_from_creation_responses() {
        let (task, project) = (Uuid::new_v4(), Uuid::new_v4());
        let mut ids = Ids::default();
        ids.record(
            &creation_kind("/v2/projects/{id}/tasks"),
            &json!({"id": task, "project_id": project, "title": "x", "other": "not-an-id"}),
        );
        assert_eq!(ids.candidates("task"), vec![task, project]);
        assert_eq!(ids.candidates("project"), vec![project, task]);
        let body = format!(
            "{{\"items\":[{{\"id\":\"{}\"}}]}}",
            project.hyphenated().to_string().to_uppercase()
        );
        assert_eq!(ids.found_in(body.as_bytes()), vec![project]);
    }

    #[test]
    fn path_parameters_get_the_kind_of_the_segment_before_them() {
        let template = "/v2/projects/{id}/tasks/{task_id}";
        let params = path_params(template);
        assert_eq!(params, ["id", "task_id"]);
        assert_eq!(param_stems(template, &params), ["project", "task"]);
        assert_eq!(
            param_stems("/v2/categories/{id}", &["id".into()]),
            ["category"]
        );
        assert!(matches_template("/v2/projects/{id}", "/v2/projects/abc"));
        assert!(!matches_template(
            "/v2/projects/{id}",
            "/v2/projects/abc/tasks"
        ));
    }

    #[test]
    fn fillings_are_every_combination_up_to_the_cap() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        assert_eq!(fills(0, |_| ids.clone()), vec![Vec::<Uuid>::new()]);
        assert_eq!(fills(2, |_| ids.clone()).len(), 9);
        let many: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
        assert_eq!(fills(2, |_| many.clone()).len(), MAX_FILLS);
        assert!(fills(1, |_| Vec::new()).is_empty());
    }

    #[test]
    fn the_newest_version_is_read_from_the_docs_page() {
        let html = saas_core::openapi::serve::docs_page("app", "/openapi/v3.json");
        assert_eq!(newest_from_docs(&html).as_deref(), Some("v3"));
        assert_eq!(newest_from_docs("<html></html>"), None);
    }

    #[test]
    fn the_operations_of_a_document_are_read_with_their_bodies_and_queries() {
        let document = json!({"paths": {
            "/v2/things": {
                "get": {"parameters": [{"in": "query", "name": "limit", "required": true,
                                         "schema": {"type": "integer", "minimum": 1}}]},
                "post": {"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}
            },
            "/v2/things/{id}": {"delete": {}, "get": {"parameters": [
                {"in": "path", "name": "id", "schema": {"type": "string", "format": "uuid"}}]}},
            "/v2/pages/{n}": {"get": {"parameters": [
                {"in": "path", "name": "n", "schema": {"type": "integer"}}]}}
        }});
        let api = Api::parse(&document, &["DELETE /v2/things/{id}".to_string()]);
        let routes: Vec<String> = api.ops.iter().map(Operation::route).collect();
        assert_eq!(
            routes,
            ["GET /v2/things", "POST /v2/things", "GET /v2/things/{id}"]
        );
        assert_eq!(api.ops[0].path(&[]), "/v2/things?limit=1");
        assert!(api.ops[1].body.is_some());
        assert_eq!(api.notes.len(), 1, "{:?}", api.notes);
        assert!(api.notes[0].contains("GET /v2/pages/{n}"));
    }
}
