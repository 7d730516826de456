//! Generates the client from the committed OpenAPI 3.0 export of the taskboard API v2
//! (`examples/taskboard/openapi/openapi-3.0/v2.json`) into `$OUT_DIR/taskboard_v2.rs`,
//! which `src/lib.rs` includes.
//!
//! The document is read as is; two progenitor limitations are worked around on the parsed
//! copy in memory (the file is never changed), see [`adapt_for_progenitor`].

use std::path::Path;

use openapiv3::{OpenAPI, ReferenceOr, Response, Responses, StatusCode};

const DOCUMENT: &str = "../taskboard/openapi/openapi-3.0/v2.json";
const GENERATED: &str = "taskboard_v2.rs";

fn main() {
    println!("cargo:rerun-if-changed={DOCUMENT}");
    println!("cargo:rerun-if-changed=build.rs");

    let file = std::fs::File::open(DOCUMENT)
        .unwrap_or_else(|e| panic!("opening the OpenAPI document {DOCUMENT}: {e}"));
    let mut spec: OpenAPI = serde_json::from_reader(std::io::BufReader::new(file))
        .unwrap_or_else(|e| panic!("{DOCUMENT} is not an OpenAPI 3.0 document: {e}"));
    adapt_for_progenitor(&mut spec);

    let tokens = progenitor::Generator::default()
        .generate_tokens(&spec)
        .unwrap_or_else(|e| panic!("progenitor rejected {DOCUMENT}: {e}"));
    let file: syn::File = syn::parse2(tokens)
        .unwrap_or_else(|e| panic!("progenitor emitted code that does not parse: {e}"));
    let code = prettyplease::unparse(&file);

    let out = Path::new(&std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join(GENERATED);
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

/// Rewrites what progenitor 0.15 cannot take, without changing what the API means.
fn adapt_for_progenitor(spec: &mut OpenAPI) {
    for item in spec.paths.paths.values_mut() {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses;
            default_as_error_ranges(responses);
            for response in responses.responses.values_mut() {
                if let ReferenceOr::Item(response) = response {
                    problem_json_as_json(response);
                }
            }
        }
    }
    if let Some(components) = &mut spec.components {
        for response in components.responses.values_mut() {
            if let ReferenceOr::Item(response) = response {
                problem_json_as_json(response);
            }
        }
    }
}

/// Progenitor counts a `default` response among the possible *successes* and asserts that
/// all successes share one body type (`progenitor-impl` 0.15.1, `src/method.rs:1220`,
/// `assertion failed: response_types.len() <= 1`; upstream issue oxidecomputer/progenitor#950).
/// Every operation here pairs a typed 2xx with a `default` problem document, so every one
/// trips it. The document's `default` is "any other error": state exactly that, as the
/// `4XX` and `5XX` ranges (explicit codes still take precedence).
fn default_as_error_ranges(responses: &mut Responses) {
    let Some(default) = responses.default.take() else {
        return;
    };
    for range in [4, 5] {
        responses
            .responses
            .entry(StatusCode::Range(range))
            .or_insert_with(|| default.clone());
    }
}

/// Progenitor decodes a response body only for the media type `application/json` and hands
/// every other one back as raw bytes (`src/method.rs:464`), although `application/problem+json`
/// is JSON too (RFC 6839 `+json` suffix). Present the problem documents under
/// `application/json` so errors arrive typed as `types::Problem`.
fn problem_json_as_json(response: &mut Response) {
    if response.content.contains_key("application/json") {
        return;
    }
    if let Some(media) = response.content.shift_remove("application/problem+json") {
        response.content.insert("application/json".into(), media);
    }
}
