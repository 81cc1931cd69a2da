//! Owner sign-in with Google and Facebook through the server's outbound HTTP client, against
//! local fakes of both providers speaking their wire formats (`fakes::identity_providers`).

use std::collections::BTreeMap;

use serde_json::json;

use crate::admin::SHOP;
use crate::fakes::{
    identity_providers, IdentityProviders, FACEBOOK_APP_ID, FACEBOOK_APP_SECRET, GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
};
use crate::helpers::{on_both_databases, spawn_app_with, Db, TestApp, ADMIN_TOKEN};

const OWNER: &str = "meera@guildshop.example";

/// A browser that does not follow redirects and keeps its cookies by hand (the `__Host-`
/// cookies are `Secure`; the test server speaks plain HTTP on loopback).
struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    /// GET `url`; returns the status and the `Location`.
    async fn get(&mut self, url: &str) -> (u16, String, String) {
        let jar: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let r = self
            .http
            .get(url)
            .header("cookie", jar.join("; "))
            .send()
            .await
            .unwrap();
        for cookie in r.headers().get_all("set-cookie") {
            let cookie = cookie.to_str().unwrap();
            let (name, value) = cookie.split(';').next().unwrap().split_once('=').unwrap();
            if cookie.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, r.text().await.unwrap_or_default())
    }

    /// Starts a sign-in at `/auth/{provider}`, lets the provider consent, and follows the
    /// redirect back to the callback (on the test server's real address). Returns the
    /// callback's status and `Location`.
    async fn sign_in_with(&mut self, app: &TestApp, provider: &str) -> (u16, String) {
        let (status, to_provider, _) = self
            .get(&format!(
                "{}/auth/{provider}?next=/dashboard/rules",
                app.address
            ))
            .await;
        assert_eq!(status, 303, "{provider}");
        let (status, back, _) = self.get(&to_provider).await;
        assert_eq!(status, 302, "the provider's consent: {to_provider}");
        let path = &back[back.find("/auth/").unwrap()..];
        let (status, location, _) = self.get(&format!("{}{path}", app.address)).await;
        (status, location)
    }
}

async fn app_with_providers(db: Db, idp: &IdentityProviders) -> Option<TestApp> {
    let url = idp.url.clone();
    spawn_app_with(db, move |raw| {
        raw.set("CONCIERGE_GOOGLE_CLIENT_ID", GOOGLE_CLIENT_ID);
        raw.set("CONCIERGE_GOOGLE_CLIENT_SECRET", GOOGLE_CLIENT_SECRET);
        raw.set(
            "CONCIERGE_GOOGLE_AUTH_URL",
            format!("{url}/o/oauth2/v2/auth"),
        );
        raw.set("CONCIERGE_GOOGLE_TOKEN_URL", format!("{url}/token"));
        raw.set(
            "CONCIERGE_GOOGLE_USERINFO_URL",
            format!("{url}/v1/userinfo"),
        );
        raw.set("CONCIERGE_FACEBOOK_APP_ID", FACEBOOK_APP_ID);
        raw.set("CONCIERGE_FACEBOOK_APP_SECRET", FACEBOOK_APP_SECRET);
        raw.set(
            "CONCIERGE_FACEBOOK_DIALOG_URL",
            format!("{url}/dialog/oauth"),
        );
        raw.set("CONCIERGE_GRAPH_API_URL", &url);
    })
    .await
}

async fn google_and_facebook_sign_in_the_same_owner_by_verified_email(db: Db) {
    let idp = identity_providers(OWNER).await;
    let Some(app) = app_with_providers(db, &idp).await else {
        return;
    };
    assert_eq!(app.import_tenant(SHOP).await.status(), 200);
    let r = app
        .client
        .put(format!("{}/api/v1/tenants/guild-shop/owners", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "email": OWNER, "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    for provider in ["google", "facebook"] {
        let mut browser = Browser::new();
        let (status, location) = browser.sign_in_with(&app, provider).await;
        assert_eq!(
            (status, location.as_str()),
            (303, "/dashboard/rules"),
            "{provider}"
        );
        let (status, _, page) = browser.get(&format!("{}/dashboard", app.address)).await;
        assert_eq!(status, 200, "{provider}: signed in");
        assert!(page.contains(OWNER), "{provider}: the owner's dashboard");
    }

    // A callback with the code but another browser's state signs no one in, and a used
    // code is refused by the provider (502, a vague message).
    let mut first = Browser::new();
    let (_, to_provider, _) = first.get(&format!("{}/auth/google", app.address)).await;
    let (_, back, _) = first.get(&to_provider).await;
    let path = &back[back.find("/auth/").unwrap()..];
    let mut attacker = Browser::new();
    let (status, _, _) = attacker.get(&format!("{}{path}", app.address)).await;
    assert_eq!(status, 403, "no state cookie");
    assert!(!attacker.cookies.contains_key("__Host-concierge_session"));
    let (status, _, _) = first.get(&format!("{}{path}", app.address)).await;
    assert_eq!(status, 303, "the right browser still signs in");
    let mut again = Browser::new();
    let (_, _, _) = again.get(&format!("{}/auth/google", app.address)).await;
    let state = again.cookies["__Host-concierge_oauth"]
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let replay = format!(
        "{}/auth/callback?code={}&state={state}",
        app.address,
        &path[path.find("code=").unwrap() + 5..path.find("&state").unwrap()]
    );
    let (status, _, page) = again.get(&replay).await;
    assert_eq!(status, 502, "the provider refuses a used code");
    assert!(!page.contains("ya29") && !page.contains(GOOGLE_CLIENT_SECRET));
    app.stop().await;
}

on_both_databases!(google_and_facebook_sign_in_the_same_owner_by_verified_email);
