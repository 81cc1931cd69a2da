//! Bakes htmx into the dashboard when `web/node_modules` has it (`scripts/web-assets.sh`
//! installs it from npm); without it the pages still work, as plain forms.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(concierge_htmx)");
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let htmx = web.join("node_modules/htmx.org/dist/htmx.min.js");
    if htmx.is_file() {
        println!("cargo::rerun-if-changed={}", htmx.display());
        println!("cargo::rustc-cfg=concierge_htmx");
        println!("cargo::rustc-env=CONCIERGE_HTMX_JS={}", htmx.display());
    } else if web.is_dir() {
        // Created by `npm ci` in web/: the next build picks htmx up.
        println!("cargo::rerun-if-changed={}", web.display());
    } else {
        println!("cargo::rerun-if-changed=build.rs");
    }
}
