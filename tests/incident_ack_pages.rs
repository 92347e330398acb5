//! Acknowledging incidents from the status pages over real HTTP: an officer signs in, the form
//! shows under each open incident on /incidents and /targets/{id}, a post with the page's form
//! token records the acknowledgement exactly as the API does (author, comment, `ack` event) and
//! goes back to the page; without a session there is a sign-in link, a viewer sees no form and
//! is refused, forged posts are refused, unknown and closed incidents are error pages in the
//! reader's language, hostile comments are escaped, and the way back never leaves the site.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::pages::*;
use common::*;

const ADMIN: &str = "admin-secret-token";
const OFFICER: &str = "officer-secret-token";
const VIEWER: &str = "viewer-secret-token";
const EVIL: &str = "<script>alert(1)</script> Đã gọi \"VNPT\" & <img src=x onerror=alert(2)>";

fn config(ok: SocketAddr, flip: SocketAddr, refused: SocketAddr) -> String {
    let token = |name: &str, role: &str, t: &str| {
        format!(
            "[[auth.tokens]]\nname = {}\nrole = \"{role}\"\nsha256 = \"{}\"\n\n",
            q(name),
            hex(t)
        )
    };
    let target = |id: &str, name: &str, probe: String| {
        format!(
            "[[targets]]\nid = \"{id}\"\nname = {}\n{probe}\noperator = \"vnpt\"\nservice = \"mobile\"\nprovince = \"Hà Tĩnh\"\ncommune = \"Kỳ Anh\"\n\n",
            q(name)
        )
    };
    [
        "[defaults]\ninterval = \"1s\"\ntimeout = \"500ms\"\nfailure_threshold = 1\nsuccess_threshold = 1\n\n"
            .to_string(),
        token("quan-tri", "admin", ADMIN),
        token("truc-ban-1", "officer", OFFICER),
        token("xem", "viewer", VIEWER),
        target(
            "down-1",
            "VNPT — Kỳ Anh",
            format!("kind = \"tcp\"\naddress = \"{refused}\""),
        ),
        target(
            "flip-1",
            "VinaPhone — Kỳ Anh",
            format!("kind = \"http\"\nurl = \"http://{flip}/\""),
        ),
        target(
            "ok-1",
            "Cổng tỉnh",
            format!("kind = \"http\"\nurl = \"http://{ok}/\""),
        ),
    ]
    .concat()
}

/// The acknowledgements of a target's newest incident, from the API.
async fn acks(addr: SocketAddr, target: &str) -> Vec<serde_json::Value> {
    let v = get_json(
        addr,
        &format!("/api/v1/incidents?status=all&target={target}"),
    )
    .await;
    v["incidents"][0]["acks"].as_array().unwrap().clone()
}

fn action(id: i64) -> String {
    format!("action=\"/incidents/{id}/ack\"")
}

/// No hostile markup reaches the page raw.
fn assert_escaped(path: &str, html: &str) {
    for raw in ["<script>alert", "<img src=x"] {
        assert!(!html.contains(raw), "{path}: raw `{raw}` in the page");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officers_acknowledge_from_the_pages() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let (flip, flip_status) = switch_server(503).await;
    let refused = refused_addr().await;
    let app = start_app(dir.path(), &config(ok, flip, refused)).await;
    let addr = app.local_addr();
    let down = open_incident(addr, "down-1").await;
    let flipped = open_incident(addr, "flip-1").await;
    let c = no_redirects();
    let url = format!("/incidents/{down}/ack");

    // Nobody signed in: a sign-in link where the form would be; a post is refused.
    for p in ["/incidents", "/targets/down-1"] {
        let (status, html) = get_text(addr, p).await;
        assert_eq!(status, 200, "{p}");
        assert!(!html.contains(&action(down)), "{p}: form shown");
        assert!(!html.contains("form_token"), "{p}");
        assert!(
            html.contains("<a href=\"/login\">Đăng nhập để nhận xử lý</a>"),
            "{p}: no sign-in link"
        );
    }
    let r = post(&c, addr, &url, None, &[("comment", "x")]).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Đăng nhập bằng mã trực ban để nhận xử lý sự cố.")
    );

    // A viewer: no form and no sign-in link; a post (even with the session's own form token,
    // which a viewer's page never carries) is refused.
    let viewer = sign_in(&c, addr, VIEWER).await;
    let (_, html) = page(&c, addr, "/incidents", &viewer).await;
    assert!(!html.contains(&action(down)) && !html.contains("Đăng nhập để nhận xử lý"));
    let vtoken = commwatch::web::auth::form_token(VIEWER);
    let r = post(
        &c,
        addr,
        &url,
        Some(&viewer),
        &[("comment", "x"), ("form_token", &vtoken)],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("không có quyền"));

    // An officer sees the form with the page's token and the way back.
    let officer = sign_in(&c, addr, OFFICER).await;
    let admin = sign_in(&c, addr, ADMIN).await;
    let (_, html) = page(&c, addr, "/incidents?status=open", &officer).await;
    let token = form_token(&html);
    assert!(html.contains(&action(down)) && html.contains(&action(flipped)));
    assert!(html.contains("name=\"return\" value=\"/incidents?status=open\""));
    assert!(html.contains("✓ Nhận xử lý") && html.contains("maxlength=\"2000\""));
    // Forged: no token, a wrong one, another session's.
    let (_, admin_html) = page(&c, addr, "/incidents", &admin).await;
    let admin_token = form_token(&admin_html);
    assert_ne!(admin_token, token);
    for forged in [None, Some("00"), Some(admin_token.as_str())] {
        let mut fields = vec![("comment", "x")];
        if let Some(t) = forged {
            fields.push(("form_token", t));
        }
        let r = post(&c, addr, &url, Some(&officer), &fields).await;
        assert_eq!(r.status(), 403, "{forged:?}");
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Biểu mẫu không đến từ trang này")
        );
    }
    assert!(
        acks(addr, "down-1").await.is_empty(),
        "nothing recorded yet"
    );

    // The real post: 303 back, the `ack` event, the acknowledgement on the page and in the API.
    let mut events = client()
        .get(format!("http://{addr}/api/v1/events?types=ack"))
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    next_event(&mut events, &mut buf, |n, _| n == "hello").await;
    let r = post(
        &c,
        addr,
        &url,
        Some(&officer),
        &[
            ("comment", EVIL),
            ("return", "/incidents?status=open"),
            ("form_token", &token),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/incidents?status=open");
    let (_, ev) = next_event(&mut events, &mut buf, |n, _| n == "ack").await;
    assert_eq!(ev["incident_id"], down);
    assert_eq!(ev["author"], "truc-ban-1");
    assert_eq!(ev["target"], "down-1");
    assert_eq!(ev["comment"], EVIL);
    let a = acks(addr, "down-1").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["author"], "truc-ban-1");
    assert_eq!(a[0]["comment"], EVIL);
    let v = get_json(addr, "/api/v1/incidents?status=open&target=down-1").await;
    assert_eq!(v["incidents"][0]["acknowledged"], true);
    for p in ["/incidents?status=open", "/targets/down-1"] {
        let (_, html) = page(&c, addr, p, &officer).await;
        assert_escaped(p, &html);
        assert!(
            html.contains("Đã nhận: <strong><bdi>truc-ban-1</bdi></strong>"),
            "{p}"
        );
        assert!(
            html.contains(
                "&lt;script&gt;alert(1)&lt;/script&gt; Đã gọi &quot;VNPT&quot; &amp; &lt;img src=x onerror=alert(2)&gt;"
            ),
            "{p}: comment not shown escaped"
        );
        // Still open: a second officer may add theirs.
        assert!(
            html.contains(&action(down)) && html.contains("✓ Cùng nhận xử lý"),
            "{p}"
        );
    }

    // A second officer (an admin) from the target page, without a comment: back to that page.
    let (_, html) = page(&c, addr, "/targets/down-1", &admin).await;
    assert!(html.contains("name=\"return\" value=\"/targets/down-1\""));
    let r = post(
        &c,
        addr,
        &url,
        Some(&admin),
        &[
            ("comment", "  "),
            ("return", "/targets/down-1"),
            ("form_token", &form_token(&html)),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/targets/down-1");
    let a = acks(addr, "down-1").await;
    assert_eq!(a.len(), 2);
    assert_eq!(a[1]["author"], "quan-tri");
    assert_eq!(a[1]["comment"], "");

    // The way back never leaves the site.
    for hostile in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let r = post(
            &c,
            addr,
            &format!("/incidents/{flipped}/ack"),
            Some(&officer),
            &[("return", hostile), ("form_token", &token)],
        )
        .await;
        assert_eq!(r.status(), 303, "{hostile}");
        assert_eq!(r.headers()["location"], "/incidents", "{hostile}");
    }
    assert_eq!(acks(addr, "flip-1").await.len(), 4);

    // Unknown incidents and a comment too long: error pages, in the reader's language.
    let en = format!("{officer}; lang=en");
    for (path, cookie, status, text) in [
        (
            "/incidents/999999/ack",
            officer.as_str(),
            404,
            "Không có sự cố số 999999.",
        ),
        (
            "/incidents/abc/ack",
            officer.as_str(),
            404,
            "Không có sự cố số abc.",
        ),
        (
            "/incidents/999999/ack",
            en.as_str(),
            404,
            "There is no incident 999999.",
        ),
    ] {
        let r = post(
            &c,
            addr,
            path,
            Some(cookie),
            &[("return", "/targets/down-1"), ("form_token", &token)],
        )
        .await;
        assert_eq!(r.status(), status, "{path}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("role=\"alert\"") && html.contains(text),
            "{html}"
        );
        assert!(html.contains("href=\"/targets/down-1\""), "a way back");
    }
    let long = "x".repeat(2_001);
    let r = post(
        &c,
        addr,
        &url,
        Some(&officer),
        &[("comment", &long), ("form_token", &token)],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Ghi chú: tối đa 2000 ký tự.")
    );
    assert_eq!(acks(addr, "down-1").await.len(), 2);

    // The target recovers: its incident closes, loses its form, and cannot be taken.
    flip_status.store(200, Ordering::Relaxed);
    wait_for(Duration::from_secs(20), "the incident to close", || async {
        let v = get_json(addr, "/api/v1/incidents?status=closed&target=flip-1").await;
        (v["incidents"][0]["id"] == flipped).then_some(())
    })
    .await;
    for p in ["/incidents?status=all", "/targets/flip-1"] {
        let (_, html) = page(&c, addr, p, &officer).await;
        assert!(
            !html.contains(&action(flipped)),
            "{p}: form on a closed incident"
        );
        assert!(
            html.contains(&action(down)) || p == "/targets/flip-1",
            "{p}"
        );
    }
    let closed = format!("/incidents/{flipped}/ack");
    for (cookie, text) in [
        (
            officer.as_str(),
            format!("Sự cố số {flipped} đã kết thúc, không cần nhận xử lý nữa."),
        ),
        (
            en.as_str(),
            format!("Incident {flipped} has already ended; there is nothing left to acknowledge."),
        ),
    ] {
        let r = post(
            &c,
            addr,
            &closed,
            Some(cookie),
            &[("comment", "x"), ("form_token", &token)],
        )
        .await;
        assert_eq!(r.status(), 409);
        assert!(r.text().await.unwrap().contains(&text));
    }
    assert_eq!(acks(addr, "flip-1").await.len(), 4);
    drop(events);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_pages_keep_the_form_behind_the_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let refused = refused_addr().await;
    let toml = format!("[auth]\npublic = false\n\n{}", config(ok, ok, refused));
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    let c = no_redirects();
    let id = wait_for(Duration::from_secs(20), "an open incident", || async {
        let r = c
            .get(format!(
                "http://{addr}/api/v1/incidents?status=open&target=down-1"
            ))
            .bearer_auth(VIEWER)
            .send()
            .await
            .unwrap();
        r.json::<serde_json::Value>().await.unwrap()["incidents"][0]["id"].as_i64()
    })
    .await;
    // No session: the page sends the browser to sign in, and a post is refused.
    let r = c
        .get(format!("http://{addr}/incidents"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");
    let r = post(
        &c,
        addr,
        &format!("/incidents/{id}/ack"),
        None,
        &[("comment", "x")],
    )
    .await;
    assert_eq!(r.status(), 401);
    // Signed in as an officer: the form, and the post goes through.
    let officer = sign_in(&c, addr, OFFICER).await;
    let (status, html) = page(&c, addr, "/targets/down-1", &officer).await;
    assert_eq!(status, 200);
    assert!(html.contains(&action(id)));
    let r = post(
        &c,
        addr,
        &format!("/incidents/{id}/ack"),
        Some(&officer),
        &[
            ("comment", "Đã điều xe máy phát"),
            ("return", "/targets/down-1"),
            ("form_token", &form_token(&html)),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let v: serde_json::Value = c
        .get(format!("http://{addr}/api/v1/incidents?target=down-1"))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["incidents"][0]["acks"][0]["author"], "truc-ban-1");
    assert_eq!(
        v["incidents"][0]["acks"][0]["comment"],
        "Đã điều xe máy phát"
    );
    app.shutdown().await;
}
