//! The knowledge page, sans-IO: a signed-in owner's uploads (a browser's multipart body, and
//! pasted text), deletes and tried questions against the in-memory host.

#![allow(clippy::unwrap_used)] // tests may unwrap

use bytes::Bytes;
use futures::executor::block_on;

use crate::front::{DemoLimiter, Front, FrontConfig};
use crate::i18n::UiLocale;
use crate::testing::{Harness, MemoryHost, EXAMPLE_TENANT};

use super::super::Viewer;

const TOKEN: &str = "Jq3h2n1T0kenOfFortyThreeCharactersLong_-abc";
const BOUNDARY: &str = "----WebKitFormBoundaryQ1w2E3r4T5y6U7i8";

struct Page {
    status: u16,
    body: String,
}

fn viewer(h: &Harness) -> Viewer {
    Viewer {
        tenant: h.tenant_id().clone(),
        email: "owner@sunrise.example".into(),
        csrf: TOKEN.into(),
        locale: UiLocale::EnIn,
        owner: "owner-1".into(),
        session: "session-hash".into(),
    }
}

fn send(h: &Harness, req: http::Request<Bytes>) -> Page {
    let host = MemoryHost::new(h.engine.clone());
    let config = FrontConfig::default();
    let demo = DemoLimiter::new(10);
    let front = Front::new(&h.engine, &host, &config, &demo);
    let path = req.uri().path().to_owned();
    let rest: Vec<&str> = path.trim_matches('/').split('/').skip(1).collect();
    let response = block_on(super::route(&front, &viewer(h), &req, &rest))
        .unwrap_or_else(crate::front::ApiError::into_response);
    let (parts, body) = response.into_parts();
    Page {
        status: parts.status.as_u16(),
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn get(h: &Harness, path_and_query: &str) -> Page {
    send(
        h,
        http::Request::get(path_and_query)
            .body(Bytes::new())
            .unwrap(),
    )
}

fn post_form(h: &Harness, path: &str, form: &str) -> Page {
    send(
        h,
        http::Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::from(form.to_owned()))
            .unwrap(),
    )
}

/// What Chromium sends for the upload form with `file` chosen as `filename`.
fn multipart_body(filename: &str, file: &[u8], source: &str) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{TOKEN}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"document\"; filename=\"{filename}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(
        format!(
            "\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"source\"\r\n\r\n{source}\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n\r\n--{BOUNDARY}--\r\n"
        )
        .as_bytes(),
    );
    body
}

fn upload_request(filename: &str, file: &[u8], source: &str) -> http::Request<Bytes> {
    http::Request::post("/dashboard/knowledge")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("cookie", format!("__Host-concierge_csrf={TOKEN}"))
        .body(Bytes::from(multipart_body(filename, file, source)))
        .unwrap()
}

const FAQ: &str = "# Cakes\n\n## Eggless cakes\n\nEvery cake can be made eggless with two days' notice. \
                   The eggless chocolate truffle costs 650 rupees.\n\n## Delivery\n\nWe deliver within 5 km for 50 rupees.\n";

fn stored(h: &Harness) -> Vec<String> {
    block_on(h.engine.knowledge_documents(h.tenant_id()))
        .unwrap()
        .into_iter()
        .map(|d| d.source)
        .collect()
}

#[test]
fn an_empty_knowledge_base_says_so_and_offers_the_upload() {
    let h = Harness::new(EXAMPLE_TENANT);
    let page = get(&h, "/dashboard/knowledge");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"id="documents-empty""#));
    assert!(page.body.contains(r#"enctype="multipart/form-data""#));
    assert!(page
        .body
        .contains(&format!(r#"name="csrf" value="{TOKEN}""#)));
}

#[test]
fn a_browser_upload_is_stored_listed_and_found() {
    let h = Harness::new(EXAMPLE_TENANT);
    let page = send(&h, upload_request("faq.md", FAQ.as_bytes(), ""));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("faq.md: stored as"), "{}", page.body);
    assert_eq!(stored(&h), ["faq.md"]);
    assert!(page.body.contains(r#"data-source="faq.md""#));

    // The same file again changes nothing.
    let again = send(&h, upload_request("faq.md", FAQ.as_bytes(), ""));
    assert!(again.body.contains("nothing changed"), "{}", again.body);

    let tried = get(&h, "/dashboard/knowledge?q=do+you+make+eggless+cakes");
    assert_eq!(tried.status, 200);
    assert!(tried.body.contains(r#"class="passage""#), "{}", tried.body);
    assert!(tried.body.contains("Eggless cakes"));
    // The envelope the model gets carries the passage inside the knowledge section.
    let envelope = tried
        .body
        .split(r#"id="knowledge-prompt">"#)
        .nth(1)
        .unwrap();
    let begin = envelope.find("BEGIN KNOWLEDGE").unwrap();
    let end = envelope.find("END KNOWLEDGE").unwrap();
    let passage = envelope
        .find("two days")
        .unwrap_or_else(|| panic!("{envelope}"));
    assert!(begin < passage && passage < end, "{envelope}");
}

#[test]
fn a_file_can_be_stored_under_another_name_and_paths_are_dropped() {
    let h = Harness::new(EXAMPLE_TENANT);
    send(&h, upload_request("docs/faq.md", FAQ.as_bytes(), ""));
    send(
        &h,
        upload_request("notes.md", FAQ.as_bytes(), "menus/cakes.md"),
    );
    assert_eq!(stored(&h), ["faq.md", "menus/cakes.md"]);
}

#[test]
fn pasted_text_is_stored_under_its_name() {
    let h = Harness::new(EXAMPLE_TENANT);
    let page = post_form(
        &h,
        "/dashboard/knowledge",
        "source=hours.txt&text=We+open+at+8+am+every+day+except+Monday.",
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(stored(&h), ["hours.txt"]);
}

#[test]
fn a_document_that_cannot_be_read_is_refused_and_nothing_is_stored() {
    let h = Harness::new(EXAMPLE_TENANT);
    for (name, bytes, why) in [
        (
            "logo.png",
            &b"\x89PNG\r\n\x1a\n\0\0\0"[..],
            "no supported kind",
        ),
        ("faq.md", &b"\0\x01\x02binary\xff\xfe"[..], "binary"),
        ("../secret.md", FAQ.as_bytes(), "bad name"),
    ] {
        let page = send(
            &h,
            upload_request(name, bytes, if name.starts_with("..") { name } else { "" }),
        );
        assert_eq!(page.status, 422, "{why}: {}", page.body);
        assert!(page.body.contains(r#"id="knowledge-errors""#), "{why}");
    }
    let empty = post_form(&h, "/dashboard/knowledge", "source=empty.md&text=");
    assert_eq!(empty.status, 422);
    let unnamed = post_form(&h, "/dashboard/knowledge", "source=&text=hello");
    assert_eq!(unnamed.status, 422);
    // The pasted text is kept on the form for the owner to fix the name.
    assert!(unnamed.body.contains(">hello</textarea>"));
    assert!(stored(&h).is_empty());
}

#[test]
fn delete_removes_only_the_named_document() {
    let mut h = Harness::new(EXAMPLE_TENANT);
    h.learn("faq.md", FAQ)
        .learn("hours.txt", "Open 8 am to 8 pm.");
    let page = post_form(&h, "/dashboard/knowledge/delete", "source=faq.md");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("faq.md deleted"));
    assert_eq!(stored(&h), ["hours.txt"]);
    let missing = post_form(&h, "/dashboard/knowledge/delete", "source=faq.md");
    assert_eq!(missing.status, 404);
    assert_eq!(get(&h, "/dashboard/knowledge/delete").status, 405);
}

#[test]
fn a_question_nothing_answers_says_the_reply_would_not_know() {
    let mut h = Harness::new(EXAMPLE_TENANT);
    h.learn("faq.md", FAQ);
    let page = get(&h, "/dashboard/knowledge?q=parking+for+trucks");
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"id="try-nothing""#), "{}", page.body);
    let long = format!("/dashboard/knowledge?q={}", "a".repeat(1001));
    assert_eq!(get(&h, &long).status, 422);
}

#[test]
fn output_is_escaped() {
    let mut h = Harness::new(EXAMPLE_TENANT);
    h.learn(
        "x<script>.md",
        "# <b>Hours</b>\n\nOpen <script>alert(1)</script> daily.",
    );
    let page = get(&h, "/dashboard/knowledge?q=%3Cscript%3E+hours");
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(!page.body.contains("x<script>.md"));
}

#[test]
fn a_multipart_form_carries_its_csrf_token_in_a_part() {
    let h = Harness::new(EXAMPLE_TENANT);
    let host = MemoryHost::new(h.engine.clone());
    let config = FrontConfig::default();
    let demo = DemoLimiter::new(10);
    let front = Front::new(&h.engine, &host, &config, &demo);
    let good = upload_request("faq.md", FAQ.as_bytes(), "");
    assert!(super::super::auth::check_csrf(&front, &viewer(&h), &good).is_ok());
    let forged = String::from_utf8(multipart_body("faq.md", FAQ.as_bytes(), ""))
        .unwrap()
        .replace(TOKEN, "Xq3h2n1T0kenOfFortyThreeCharactersLong_-abc");
    let bad = http::Request::post("/dashboard/knowledge")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("cookie", format!("__Host-concierge_csrf={TOKEN}"))
        .body(Bytes::from(forged))
        .unwrap();
    assert_eq!(
        super::super::auth::check_csrf(&front, &viewer(&h), &bad)
            .unwrap_err()
            .status(),
        403
    );
}
