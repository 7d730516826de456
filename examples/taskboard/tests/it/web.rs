//! The page under `/app` (examples/taskboard/web): `index.html` revalidated on every load, the
//! content-hashed assets it names immutable, unknown names a problem document, and the same
//! public bytes whoever asks (no tenant data, no tenant needed).

use crate::common;

use common::App;
use serde_json::json;

/// The `/app/assets/...` URLs an HTML page references in `src` and `href` attributes.
fn asset_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for rest in html.split(attribute).skip(1) {
            let url = rest.split('"').next().unwrap();
            if url.starts_with("/app/assets/") {
                urls.push(url.to_string());
            }
        }
    }
    urls
}

#[tokio::test]
async fn the_page_is_revalidated_and_its_hashed_assets_are_immutable() {
    let app = App::new().await;
    let page = app.client(None).get("/app/").await;
    page.assert_status(200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers["cache-control"], "no-cache");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let etag = page.headers["etag"].to_str().unwrap().to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "{etag}"
    );

    // `/app` without the slash is the same page (its asset URLs are absolute).
    let bare = app.client(None).get("/app").await;
    bare.assert_status(200);
    assert_eq!(bare.body, page.body);
    assert_eq!(bare.headers["etag"], etag.as_str());

    // The ETag revalidates: 304, no body, same tag.
    let revalidated = app
        .client(None)
        .header("if-none-match", etag.as_str())
        .get("/app/")
        .await;
    revalidated.assert_status(304);
    assert!(revalidated.body.is_empty());
    assert_eq!(revalidated.headers["etag"], etag.as_str());
    app.client(None)
        .header("if-none-match", "\"something-else\"")
        .get("/app/")
        .await
        .assert_status(200);

    // Every asset the page names is served, immutable, with its media type.
    let html = page.text();
    let urls = asset_urls(&html);
    assert!(
        urls.iter().any(|u| u.ends_with(".js")) && urls.iter().any(|u| u.ends_with(".css")),
        "the page names a script and a stylesheet: {urls:?}"
    );
    for url in &urls {
        let name = url.strip_prefix("/app/assets/").unwrap();
        let (stem, ext) = name.rsplit_once('.').unwrap();
        let hash = stem.strip_prefix("app-").unwrap();
        assert!(
            hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{url}: a content-hashed name"
        );
        let asset = app.client(None).get(url).await;
        asset.assert_status(200);
        assert_eq!(
            asset.headers["cache-control"], "public, max-age=31536000, immutable",
            "{url}"
        );
        let expected = match ext {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            other => panic!("{url}: unexpected asset type {other}"),
        };
        assert_eq!(asset.headers["content-type"], expected, "{url}");
        assert_eq!(asset.headers["x-content-type-options"], "nosniff");
        assert!(!asset.body.is_empty(), "{url}");
        assert!(
            asset.headers.get("vary").is_none(),
            "{url}: the same for everyone"
        );
        let tag = asset.headers["etag"].to_str().unwrap();
        app.client(None)
            .header("if-none-match", tag)
            .get(url)
            .await
            .assert_status(304);
    }
    let mut embedded: Vec<&str> = taskboard::web::asset_names().collect();
    embedded.sort_unstable();
    let mut named: Vec<&str> = urls
        .iter()
        .map(|u| u.strip_prefix("/app/assets/").unwrap())
        .collect();
    named.sort_unstable();
    assert_eq!(
        embedded, named,
        "dist/assets holds exactly what the page uses"
    );
}

#[tokio::test]
async fn unknown_assets_are_404_problems() {
    let app = App::new().await;
    for path in [
        "/app/assets/app-0000000000000000.js",
        "/app/assets/index.html",
        "/app/assets/..%2Findex.html",
        "/app/assets/",
        "/app/assets/a/b.js",
        "/app/index.html",
    ] {
        let response = app.client(None).get(path).await;
        assert_eq!(response.status, 404, "{path}");
        assert!(response.is_problem(), "{path}: {:?}", response.headers);
        assert!(
            response.headers.get("cache-control").is_none_or(|v| {
                let v = v.to_str().unwrap();
                !v.contains("immutable") && !v.contains("public")
            }),
            "{path}: a 404 is not kept for a year"
        );
    }
    let refused = app.client(None).send("POST", "/app/", None).await;
    assert!(
        refused.status == 404 || refused.status == 405,
        "{}",
        refused.status
    );
    assert!(refused.is_problem(), "{:?}", refused.headers);
}

#[tokio::test]
async fn every_caller_gets_the_same_public_bytes_whatever_token_it_sends() {
    let app = App::new().await;
    let (_, a) = app.tenant("web-a").await;
    let (_, b) = app.tenant("web-b").await;
    // Tenant A has data; none of it may show in the page's responses to anyone.
    let created = app
        .client(Some(&a))
        .post("/v2/projects", json!({"name": "A's secret plan"}))
        .await;
    created.assert_status(201);

    let anonymous = app.client(None).get("/app/").await;
    anonymous.assert_status(200);
    let urls = asset_urls(&anonymous.text());
    for path in std::iter::once("/app/".to_string()).chain(urls) {
        let reference = app.client(None).get(&path).await;
        reference.assert_status(200);
        for token in [a.as_str(), b.as_str(), "not-a-token"] {
            let got = app.client(Some(token)).get(&path).await;
            got.assert_status(200);
            assert_eq!(got.body, reference.body, "{path}");
            for name in ["etag", "cache-control", "content-type"] {
                assert_eq!(got.headers[name], reference.headers[name], "{path}: {name}");
            }
            assert!(got.headers.get("vary").is_none(), "{path}");
            let text = String::from_utf8_lossy(&got.body);
            assert!(!text.contains("secret plan"), "{path}");
        }
    }
}
