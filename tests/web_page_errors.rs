//! What a browser reading the pages gets when something is wrong or about signing in: a page in
//! its language rather than the API's JSON, a language link that works after a form's POST, a
//! sign-in page that says whether the status page is public, and signing out.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pages::*;
use common::*;

const OFFICER: &str = "officer-token-for-page-errors";

fn auth(public: bool) -> String {
    format!(
        "[auth]\npublic = {public}\n\n[[auth.tokens]]\nname = \"truc-ban-3\"\nrole = \"officer\"\nsha256 = \"{}\"\n",
        hex(OFFICER)
    )
}

/// The href of the page's language switch.
fn lang_link(html: &str) -> String {
    let marker = "class=\"lang\" href=\"";
    let start = html.find(marker).expect("a language link") + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_page_addresses_get_a_page_in_the_readers_language() {
    let dir = tempfile::tempdir().unwrap();
    let app = start_app(dir.path(), &auth(true)).await;
    let addr = app.local_addr();
    let c = client();
    for path in [
        "/?state=bogus",
        "/?page=0",
        "/incidents?status=nope",
        "/groups/operator?range=x",
    ] {
        let r = c.get(format!("http://{addr}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("Địa chỉ trang có tham số không hợp lệ."),
            "{path}: {html}"
        );
        assert!(html.contains("<html lang=\"vi\""), "{path}");
    }
    let (status, html) = page(&c, addr, "/?state=bogus&lang=en", "").await;
    assert_eq!(status, 400);
    assert!(
        html.contains("The page address has a parameter that is not valid."),
        "{html}"
    );
    // The API keeps answering in JSON.
    let (status, v) = get_json_status(addr, "/api/v1/overview?state=bogus").await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "invalid_query", "{v}");
    app.shutdown().await;
}

async fn get_json_status(addr: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let r = client()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_and_out_and_the_language_link_after_a_form() {
    let dir = tempfile::tempdir().unwrap();
    let app = start_app(dir.path(), &auth(true)).await;
    let addr = app.local_addr();
    // A browser that shows each redirect instead of following it.
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A public page's sign-in says it is public, and what signing in is for.
    let (_, html) = page(&c, addr, "/login", "").await;
    assert!(html.contains("Trang trạng thái này công khai"), "{html}");
    assert!(!html.contains("không công khai"), "{html}");

    let session = sign_in(&c, addr, OFFICER).await;
    let (_, html) = page(&c, addr, "/incidents", &session).await;
    assert!(
        html.contains("truc-ban-3") && html.contains("action=\"/logout\""),
        "{html}"
    );
    let token = commwatch::web::auth::form_token(OFFICER);

    // A form refused (no such incident): the error page's language link leads to the page the
    // form came from in the other language, which answers.
    let r = post(
        &c,
        addr,
        "/incidents/999/ack",
        Some(&session),
        &[
            ("comment", "x"),
            ("form_token", &token),
            ("return", "/incidents?status=open"),
        ],
    )
    .await;
    assert_eq!(r.status(), 404);
    let html = r.text().await.unwrap();
    let link = lang_link(&html);
    assert_eq!(link, "/incidents?lang=en&status=open", "{html}");
    let (status, html) = page(&c, addr, &link, &session).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<html lang=\"en\""));

    // Signing out forgets the cookie.
    let r = post(&c, addr, "/logout", Some(&session), &[]).await;
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set.starts_with("commwatch_token=;") && set.contains("Max-Age=0"),
        "{set}"
    );
    app.shutdown().await;

    // A private page's sign-in says it is private.
    let dir = tempfile::tempdir().unwrap();
    let app = start_app(dir.path(), &auth(false)).await;
    let (_, html) = page(&c, app.local_addr(), "/login", "").await;
    assert!(html.contains("không công khai"), "{html}");
    app.shutdown().await;
}
