//! Server-side render time of the owner's dashboard pages, through the whole front (session
//! cookie lookup, the owner, the tenant, the template), next to `GET /healthz` through the same
//! front as the baseline measured in the same run; and each page's size on the wire.
//!
//! `cargo bench -p concierge-core --bench pages` — figures and ratios go to docs/benchmarks.md.

use bytes::Bytes;
use concierge_core::front::{DemoLimiter, Front, FrontConfig};
use concierge_core::testing::{Harness, MemoryHost, EXAMPLE_TENANT};
use criterion::{criterion_group, criterion_main, Criterion};
use futures::executor::block_on;

const ADMIN: &str = "bench-admin-token-0123";
const PAGES: [&str; 9] = [
    "/dashboard",
    "/dashboard/persona",
    "/dashboard/rules/whatsapp",
    "/dashboard/channels",
    "/dashboard/settings",
    "/dashboard/approvals",
    "/dashboard/credits",
    "/dashboard/conversations",
    "/demo",
];

struct Site {
    h: Harness,
    host: MemoryHost,
    config: FrontConfig,
    demo: DemoLimiter,
}

impl Site {
    fn serve(&self, req: http::Request<Bytes>) -> http::Response<Bytes> {
        block_on(Front::new(&self.h.engine, &self.host, &self.config, &self.demo).handle(req))
    }
}

/// A signed-in owner's cookie header.
fn sign_in(site: &Site) -> String {
    let owner = http::Request::builder()
        .method("PUT")
        .uri("/api/v1/tenants/sunrise-bakery/owners")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Bytes::from_static(
            br#"{"email":"owner@sunrise.example","password":"correct horse battery"}"#,
        ))
        .unwrap_or_default();
    site.serve(owner);
    let form = site.serve(
        http::Request::builder()
            .uri("/dashboard/login")
            .body(Bytes::new())
            .unwrap_or_default(),
    );
    let cookie = |r: &http::Response<Bytes>, name: &str| -> String {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(name))
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .to_owned()
    };
    let csrf = cookie(&form, "__Host-concierge_csrf");
    let token = csrf.split_once('=').map(|(_, t)| t).unwrap_or_default();
    let login = site.serve(
        http::Request::builder()
            .method("POST")
            .uri("/dashboard/login")
            .header("cookie", csrf.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::from(format!(
                "csrf={token}&email=owner%40sunrise.example&password=correct+horse+battery"
            )))
            .unwrap_or_default(),
    );
    format!("{}; {csrf}", cookie(&login, "__Host-concierge_session"))
}

fn pages(c: &mut Criterion) {
    let h = Harness::new(EXAMPLE_TENANT);
    let site = Site {
        host: MemoryHost::new(h.engine.clone()),
        h,
        config: FrontConfig {
            admin_token: Some(ADMIN.into()),
            ..FrontConfig::default()
        },
        demo: DemoLimiter::new(10),
    };
    let cookie = sign_in(&site);
    let get = |path: &str| {
        http::Request::builder()
            .uri(path)
            .header("cookie", cookie.as_str())
            .body(Bytes::new())
            .unwrap_or_default()
    };
    for path in PAGES {
        let response = site.serve(get(path));
        assert_eq!(
            response.status(),
            200,
            "{path} must render for a signed-in owner"
        );
        println!("page_bytes {path} {}", response.body().len());
    }
    let mut group = c.benchmark_group("pages");
    group.bench_function("baseline: GET /healthz", |b| {
        b.iter(|| site.serve(get("/healthz")))
    });
    for path in PAGES {
        group.bench_function(format!("GET {path}"), |b| b.iter(|| site.serve(get(path))));
    }
    group.finish();
}

criterion_group!(benches, pages);
criterion_main!(benches);
