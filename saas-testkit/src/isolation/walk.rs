//! Creating a tenant's data through every `POST`, and recording its reads.

use std::collections::HashMap;

use super::MAX_CREATE_ATTEMPTS;
use super::api::{Api, Operation};
use super::ids::{Ids, fills, singular};
use super::report::{IsolationReport, excerpt};
use crate::app::{Client, TestResponse};

/// Every `POST` as `client`: without path parameters first, then under the ids created so far,
/// until nothing new can be created.
pub(super) async fn create_all(
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
pub(super) async fn snapshot(
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
pub(super) fn creation_kind(template: &str) -> String {
    template
        .rsplit('/')
        .find(|s| !s.is_empty() && !s.starts_with('{'))
        .map(singular)
        .unwrap_or_default()
}

pub(super) fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

fn answer(response: &TestResponse) -> String {
    format!(
        "last answer {} {}",
        response.status,
        excerpt(&response.body)
    )
}
