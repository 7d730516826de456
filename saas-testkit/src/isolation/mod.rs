//! Cross-tenant isolation checks driven by the app's own OpenAPI document: every route of the
//! API, tried by another tenant with real ids. The crate exports [`IsolationCheck`], whose page
//! says what is checked, and the shorthands [`assert_isolated`] and
//! [`assert_isolated_interleaved`].

mod api;
mod body;
mod ids;
mod interleave;
mod report;
mod walk;

use proptest::arbitrary::any;
use proptest::sample::Index;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;
use uuid::Uuid;

use crate::app::TestApp;
use crate::env::TestEnv;

use api::{Api, Operation};
use ids::{Ids, fills};
use interleave::{Step, run_interleaving};
pub use report::{IsolationReport, Violation};
use report::{excerpt, join};
use walk::{create_all, snapshot};

/// At most this many fillings of one operation's path parameters are tried.
const MAX_FILLS: usize = 64;
/// At most this many fillings are tried to create one resource under a parent.
const MAX_CREATE_ATTEMPTS: usize = 8;
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
/// The smallest body the schema accepts, as far as it says: `$ref`s are resolved as
/// [`saas_core::openapi::refs`] says (one that cannot be, such as a loop, gives `{}`); objects
/// get their `required` properties only; strings are `"isolation-probe"` (`"intrusion-probe"` in
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_version_is_read_from_the_docs_page() {
        let html = saas_core::openapi::serve::docs_page("app", "/openapi/v3.json");
        assert_eq!(newest_from_docs(&html).as_deref(), Some("v3"));
        assert_eq!(newest_from_docs("<html></html>"), None);
    }
}
