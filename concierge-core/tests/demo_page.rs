//! The live demo page `GET /demo`, sans-IO: the picker's HTML, its security headers, its script
//! asset and its strings. (The page in a real browser: `contract/browser/`.)

#![allow(clippy::unwrap_used)] // tests may unwrap

use bytes::Bytes;
use concierge_core::catalog::CatalogPersona;
use concierge_core::engine::{demo_catalog, DemoPersona};
use concierge_core::front::{DemoLimiter, Front, FrontConfig};
use concierge_core::ports::PersonaCatalog;
use concierge_core::testing::{Harness, MemoryHost, EXAMPLE_TENANT};
use concierge_core::time::Timestamp;
use futures::executor::block_on;

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

struct Served {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

fn get(catalog: Vec<DemoPersona>, method: &str, uri: &str) -> Served {
    let h = Harness::new(EXAMPLE_TENANT);
    let host = MemoryHost::new(h.engine.clone());
    // The catalog in the store, every entry approved (the page lists approved ones only).
    for p in catalog {
        let entry = CatalogPersona::approved(p, Timestamp::from_millis(0));
        block_on(h.store.put_catalog_persona(&entry, None)).unwrap();
    }
    let demo = DemoLimiter::new(10);
    let config = FrontConfig::default();
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(Bytes::new())
        .unwrap();
    let response = block_on(Front::new(&h.engine, &host, &config, &demo).handle(request));
    let (parts, body) = response.into_parts();
    Served {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// Whether `html` has an attribute like ` onclick=`.
fn has_event_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(at, _)| {
        let name: String = html[at + 3..]
            .chars()
            .take_while(char::is_ascii_lowercase)
            .collect();
        !name.is_empty() && html[at + 3 + name.len()..].starts_with('=')
    })
}

#[test]
fn the_demo_page_lists_every_persona_under_the_pages_csp() {
    let catalog = demo_catalog();
    let page = get(catalog.clone(), "GET", "/demo");
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers["content-security-policy"], CSP);
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["cache-control"], "no-store");
    for persona in &catalog {
        assert!(page.body.contains(&persona.label), "{}", persona.label);
        assert!(page.body.contains(&persona.description), "{}", persona.slug);
        assert!(
            page.body
                .contains(&format!("data-slug=\"{}\"", persona.slug)),
            "{}",
            persona.slug
        );
    }
    // Its own layout: no dashboard navigation, no logout form.
    assert!(!page.body.contains("/dashboard/logout"));
    // The only script is the demo's, from this origin; no inline script, no inline style.
    assert_eq!(page.body.matches("<script").count(), 1);
    assert!(page
        .body
        .contains(r#"<script type="module" src="/assets/demo.js"></script>"#));
    assert!(!page.body.contains("style="), "no inline style attribute");
    assert!(!page.body.contains("<style"), "no style element");
    assert!(!has_event_handler(&page.body), "no inline event handler");
    // The chat dialog is in the page; the script's strings ride in its data-* attributes.
    assert!(page.body.contains(r#"<dialog id="demo-chat""#));
    let rate_limited = concierge_core::i18n::text(
        concierge_core::i18n::UiLocale::EnIn,
        "demo-error-rate-limited",
        &[],
    );
    assert_ne!(
        rate_limited, "demo-error-rate-limited",
        "the key has a string"
    );
    assert!(page
        .body
        .contains(&format!(r#"data-error-rate-limited="{rate_limited}""#)));

    assert_eq!(get(catalog, "POST", "/demo").status, 405);
}

#[test]
fn a_persona_with_markup_in_its_fields_comes_out_escaped() {
    let mut evil = demo_catalog().remove(0);
    evil.slug = r#"x"><script>alert(1)</script>"#.into();
    evil.label = "<script>alert('label')</script>".into();
    evil.description = "Cakes & <b>more</b>".into();
    let page = get(vec![evil], "GET", "/demo");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.matches("<script").count(),
        1,
        "only the page's own"
    );
    assert!(!page.body.contains("<b>"));
    assert!(page
        .body
        .contains("&#60;script&#62;alert(&#39;label&#39;)&#60;/script&#62;"));
    assert!(page
        .body
        .contains("Cakes &#38; &#60;b&#62;more&#60;/b&#62;"));
    assert!(page
        .body
        .contains("data-slug=\"x&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;\""));
}

#[test]
fn the_demo_script_is_served_from_assets_and_writes_no_html() {
    let script = get(demo_catalog(), "GET", "/assets/demo.js");
    assert_eq!(script.status, 200);
    assert_eq!(
        script.headers["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(script.headers["x-content-type-options"], "nosniff");
    assert!(script.body.contains("/demo/chat"));
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!script.body.contains(sink), "demo.js uses {sink}");
    }
}

/// Every `demo-…` key the template asks for exists in each locale's `demo.ftl`.
#[test]
fn every_string_of_the_page_is_in_every_locale() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let template = std::fs::read_to_string(root.join("templates/web/demo.html")).unwrap();
    let used: Vec<&str> = template
        .split("t.get(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(used.len() > 20, "{used:?}");
    for locale in ["en-IN", "en-US", "hi-IN"] {
        let ftl = std::fs::read_to_string(root.join(format!("locales/{locale}/demo.ftl"))).unwrap();
        let defined: Vec<&str> = ftl
            .lines()
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k))
            .collect();
        for key in &used {
            assert!(defined.contains(key), "{locale}/demo.ftl lacks {key}");
        }
        assert_eq!(
            defined.len(),
            used.iter().collect::<std::collections::BTreeSet<_>>().len(),
            "{locale}: keys the page does not use"
        );
    }
}
