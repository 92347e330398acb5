//! The drill pages over real HTTP: an admin signs in, starts a drill from the page form, an
//! officer adds a note, the banner shows on every page while it runs, the admin stops it; the
//! report's HTML, CSV and JSON then agree, hostile names are escaped everywhere, and forms
//! without the page's form token, the right role or a session are refused.

mod common;
#[path = "support/report_check.rs"]
mod report_check;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use commwatch::web::i18n::Lang;
use sha2::Digest;

const ADMIN: &str = "admin-secret-token";
const OFFICER: &str = "officer-secret-token";
const EVIL: &str = "<script>alert('x')</script> \"q\" & '=SUM(A1)'";
const EVIL_COMMUNE: &str = "<img src=x onerror=alert(1)>";
const RTL: &str = "\u{202E}gnp.exe — Trạm Cẩm Xuyên";

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn hex(t: &str) -> String {
    sha2::Sha256::digest(t.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn config(ok: SocketAddr, refused: SocketAddr) -> String {
    let target = |id: &str, name: &str, probe: &str, op: &str, commune: &str| {
        format!(
            "[[targets]]\nid = {}\nname = {}\n{probe}\noperator = {}\nservice = \"mobile\"\nprovince = \"Hà Tĩnh\"\ncommune = {}\n\n",
            q(id),
            q(name),
            q(op),
            q(commune)
        )
    };
    let down = format!("kind = \"tcp\"\naddress = \"{refused}\"");
    let up = format!("kind = \"http\"\nurl = \"http://{ok}/\"");
    [
        "[defaults]\ninterval = \"1s\"\ntimeout = \"500ms\"\nfailure_threshold = 1\nsuccess_threshold = 1\n\n"
            .to_string(),
        format!(
            "[[auth.tokens]]\nname = \"quan-tri\"\nrole = \"admin\"\nsha256 = \"{}\"\n\n",
            hex(ADMIN)
        ),
        // A hostile token name: it becomes the author of notes.
        format!(
            "[[auth.tokens]]\nname = {}\nrole = \"officer\"\nsha256 = \"{}\"\n\n",
            q("<b>truc-ban</b>"),
            hex(OFFICER)
        ),
        target("evil-1", EVIL, &down, "viettel", EVIL_COMMUNE),
        target("rtl-1", RTL, &up, "viettel", "Cẩm Xuyên"),
        target("ok-1", "VNPT — Kỳ Anh", &up, "\"><svg onload=alert(2)>", "Kỳ Anh"),
        target("other-1", "FPT — Thạch Hà", &up, "fpt", "Thạch Hà"),
    ]
    .concat()
}

/// A URL-encoded form body.
fn encode(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

trait Form {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self;
}

impl Form for reqwest::RequestBuilder {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(encode(pairs))
    }
}

fn no_redirects() -> reqwest::Client {
    commwatch::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in at /login and returns the `name=value` cookie pair.
async fn sign_in(c: &reqwest::Client, addr: SocketAddr, token: &str) -> String {
    let r = c
        .post(format!("http://{addr}/login"))
        .form_body(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

async fn page(c: &reqwest::Client, addr: SocketAddr, path: &str, cookie: &str) -> (u16, String) {
    let r = c
        .get(format!("http://{addr}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the form token hidden in a page.
fn form_token(html: &str) -> String {
    let at = html
        .find("name=\"form_token\" value=\"")
        .expect("the page has a form token")
        + "name=\"form_token\" value=\"".len();
    html[at..at + 64].to_string()
}

async fn post(
    c: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut rb = c.post(format!("http://{addr}{path}")).form_body(form);
    if let Some(k) = cookie {
        rb = rb.header("cookie", k);
    }
    rb.send().await.unwrap()
}

/// Raw hostile markup never reaches a page; the only script is ours; RTL text is isolated.
fn assert_safe(path: &str, html: &str) {
    for raw in [
        "<script>alert",
        "<img src=x",
        "<svg onload",
        "<b>truc-ban",
        "javascript:",
        " style=",
    ] {
        assert!(!html.contains(raw), "{path}: raw `{raw}` in the page");
    }
    for (i, _) in html.match_indices("<script") {
        assert!(
            html[i..].starts_with("<script src=\"/assets/commwatch.js"),
            "{path}: inline script at {i}"
        );
    }
    for (i, _) in html.match_indices('\u{202E}') {
        let before = &html[..i];
        let (open, close) = (
            before.rfind('<').unwrap_or(0),
            before.rfind('>').unwrap_or(0),
        );
        let tag = &html[open..=close];
        assert!(
            open > close || tag == "<bdi>" || tag == "<title>",
            "{path}: U+202E after `{tag}`"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_pages_forms_banner_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let refused = refused_addr().await;
    let app = start_app(dir.path(), &config(ok, refused)).await;
    let addr = app.local_addr();
    wait_for(Duration::from_secs(20), "states settled", || async {
        let st = states(addr).await;
        (st["evil-1"]["state"] == "down" && st["rtl-1"]["state"] == "up").then_some(())
    })
    .await;
    let c = no_redirects();

    // Nobody signed in: the list shows no form, and a posted form is refused.
    let (status, html) = get_text(addr, "/drills").await;
    assert_eq!(status, 200);
    assert!(html.contains("Chưa có cuộc diễn tập nào.") && !html.contains("form_token"));
    let r = post(
        &c,
        addr,
        "/drills",
        None,
        &[("name", "x"), ("duration", "1h")],
    )
    .await;
    assert_eq!(r.status(), 401);

    // The admin signs in; the page carries the form and its token.
    let admin = sign_in(&c, addr, ADMIN).await;
    let (_, html) = page(&c, addr, "/drills", &admin).await;
    let token = form_token(&html);
    assert!(html.contains("action=\"/drills\""));
    // Without the token (a forged cross-site form) or with another's, nothing starts.
    let start = [
        ("name", EVIL),
        ("scenario", "Cắt cáp <quang>\nKỳ Anh"),
        ("operator", "viettel, \"><svg onload=alert(2)>"),
        ("leaders", "Nguyễn Văn A, <i>B</i>"),
        ("duration", "1h"),
        ("interval", "1s"),
        ("baseline", "1h"),
    ];
    let r = post(&c, addr, "/drills", Some(&admin), &start).await;
    assert_eq!(r.status(), 403);
    let mut forged = start.to_vec();
    forged.push(("form_token", "0000"));
    let r = post(&c, addr, "/drills", Some(&admin), &forged).await;
    assert_eq!(r.status(), 403);
    // A bad duration: the form again, with the error and the values as typed.
    let mut bad = start.to_vec();
    bad.retain(|(k, _)| *k != "duration");
    bad.push(("duration", "soon"));
    bad.push(("form_token", &token));
    let r = post(&c, addr, "/drills", Some(&admin), &bad).await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("role=\"alert\"") && html.contains("soon"),
        "{html}"
    );
    assert!(html.contains("value=\"1s\""), "values kept");
    assert_safe("/drills (error)", &html);
    let mut good = start.to_vec();
    good.push(("form_token", &token));
    let r = post(&c, addr, "/drills", Some(&admin), &good).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let report_path = r.headers()["location"].to_str().unwrap().to_string();
    let id: i64 = report_path.trim_start_matches("/drills/").parse().unwrap();
    let drill = get_json(addr, &format!("/api/v1/drills/{id}")).await;
    assert_eq!(drill["name"], EVIL);
    assert_eq!(drill["started_by"], "quan-tri");
    assert_eq!(drill["targets"], 3, "three targets carry the two operators");

    // The banner is on every page while it runs; the overview lists it on top.
    for p in [
        "/",
        "/incidents",
        "/targets/ok-1",
        "/groups/operator",
        "/drills",
    ] {
        let (_, html) = get_text(addr, p).await;
        assert!(html.contains("class=\"drillbar\""), "{p}: no banner");
        assert!(html.contains("data-elapsed"), "{p}: no elapsed time");
        assert!(
            html.contains("&lt;script&gt;alert('x')&lt;/script&gt; &quot;q&quot; &amp; '=SUM(A1)'"),
            "{p}: drill name not shown escaped"
        );
        assert_safe(p, &html);
    }
    let ov = get_json(addr, "/api/v1/overview").await;
    assert_eq!(ov["top"]["drills"][0]["id"], id.to_string());
    let (_, html) = get_text(addr, "/").await;
    assert!(html.contains(&format!("href=\"/drills/{id}\"")));
    assert!(html.contains("Diễn tập đang chạy"));

    // An officer adds a note with an injected fault; an officer cannot stop the drill.
    let officer = sign_in(&c, addr, OFFICER).await;
    let (_, html) = page(&c, addr, &report_path, &officer).await;
    let otoken = form_token(&html);
    assert_ne!(otoken, token, "tokens belong to their session");
    assert!(html.contains(&format!("action=\"/drills/{id}/notes\"")));
    assert!(!html.contains(&format!("action=\"/drills/{id}/stop\"")));
    let r = post(
        &c,
        addr,
        &format!("/drills/{id}/notes"),
        Some(&officer),
        &[("text", "x"), ("at", "not a time"), ("form_token", &otoken)],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = post(
        &c,
        addr,
        &format!("/drills/{id}/notes"),
        Some(&officer),
        &[
            ("text", "14:05 cắt <b>cáp</b> =HYPERLINK(\"x\")"),
            ("expected", "evil-1"),
            ("form_token", &otoken),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        format!("/drills/{id}#notes").as_str()
    );
    let r = post(
        &c,
        addr,
        &format!("/drills/{id}/stop"),
        Some(&officer),
        &[("form_token", &otoken)],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = post(
        &c,
        addr,
        "/drills/999/notes",
        Some(&officer),
        &[("text", "x"), ("form_token", &otoken)],
    )
    .await;
    assert_eq!(r.status(), 404);

    // Let the drill record a few seconds, then the admin stops it from the page.
    wait_for(Duration::from_secs(20), "drill samples", || async {
        let v = get_json(addr, &format!("/api/v1/drills/{id}/report")).await;
        (v["summary"]["drill"]["samples"].as_u64()? >= 6).then_some(())
    })
    .await;
    let (_, html) = page(&c, addr, &report_path, &admin).await;
    let r = post(
        &c,
        addr,
        &format!("/drills/{id}/stop"),
        Some(&admin),
        &[("form_token", &form_token(&html))],
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = post(
        &c,
        addr,
        &format!("/drills/{id}/stop"),
        Some(&admin),
        &[("form_token", &form_token(&html))],
    )
    .await;
    assert_eq!(r.status(), 409, "stopping twice");
    let (_, html) = get_text(addr, "/").await;
    assert!(
        !html.contains("class=\"drillbar\""),
        "banner gone after the end"
    );

    // The report in three forms, which agree; hostile text escaped or defused everywhere.
    for lang in [Lang::Vi, Lang::En] {
        let (status, html) = get_text(addr, &format!("{report_path}?lang={}", lang.code())).await;
        assert_eq!(status, 200);
        assert_safe(&report_path, &html);
        let r = client()
            .get(format!(
                "http://{addr}{report_path}.csv?lang={}",
                lang.code()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains(&format!("drill-{id}.csv"))
        );
        let csv = r.text().await.unwrap();
        let json = get_json(addr, &format!("{report_path}.json")).await;
        let n = report_check::assert_agree(&html, &csv, &json, lang);
        assert!(n > 30, "only {n} values compared");
        let mut api = get_json(addr, &format!("/api/v1/drills/{id}/report")).await;
        api["generated_at"] = json["generated_at"].clone();
        assert_eq!(api, json, "the API and the .json file are one report");

        // The failing target's outage, the note and its injected fault are all in it.
        let evil = json["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == "evil-1")
            .unwrap();
        assert!(evil["drill"]["downtime_seconds"].as_f64().unwrap() > 0.0);
        assert!(evil["drill"]["availability"].as_f64().unwrap() < 1.0);
        assert_eq!(json["summary"]["worst_commune"]["key"], EVIL_COMMUNE);
        assert_eq!(json["notes"][0]["author"], "<b>truc-ban</b>");
        assert_eq!(json["expected_faults"][0]["target"], "evil-1");
        assert!(
            html.contains("&lt;b&gt;truc-ban&lt;/b&gt;"),
            "author escaped"
        );
        assert!(html.contains("cắt &lt;b&gt;cáp&lt;/b&gt;"), "note escaped");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "commune escaped"
        );
        assert!(html.contains(&format!("<bdi>{RTL}</bdi>")), "RTL isolated");
        // A spreadsheet never runs the note or the name as a formula.
        let rows = report_check::parse_csv(&csv);
        for cell in rows.iter().flatten() {
            assert!(
                !cell.starts_with(['=', '+', '@']),
                "formula-like cell in the CSV: {cell}"
            );
        }
        assert!(
            csv.contains("'=SUM(A1)'") || csv.contains("'<script>"),
            "names present"
        );
        assert!(csv.contains("\"14:05 cắt <b>cáp</b> =HYPERLINK(\"\"x\"\")\""));
        match lang {
            Lang::Vi => assert!(html.contains("Báo cáo sau diễn tập") && html.contains("(+07)")),
            Lang::En => {
                assert!(html.contains("After-action report") && html.contains("Asia/Ho_Chi_Minh"))
            }
        }
    }
    let (_, list) = page(&c, addr, "/drills", &admin).await;
    assert!(list.contains(&format!("href=\"/drills/{id}\"")) && list.contains("■ Đã kết thúc"));
    assert_safe("/drills", &list);

    // Unknown drills are JSON 404s in every form.
    for p in [
        "/drills/999",
        "/drills/999.csv",
        "/drills/abc",
        "/drills/1.pdf",
        "/api/v1/drills/999/report",
    ] {
        let r = client()
            .get(format!("http://{addr}{p}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{p}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "not_found", "{p}");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_reports_need_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let refused = refused_addr().await;
    let toml = format!("[auth]\npublic = false\n\n{}", config(ok, refused));
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    let c = no_redirects();
    let r = c
        .post(format!("http://{addr}/api/v1/drills"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({ "name": "Kiểm tra", "scope": {}, "duration": "1h" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    // The page sends browsers to sign in; data answers scripts with a JSON 401.
    let r = c
        .get(format!("http://{addr}/drills/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");
    let r = c.get(format!("http://{addr}/drills")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    for p in [
        format!("/drills/{id}.csv"),
        format!("/drills/{id}.json"),
        format!("/api/v1/drills/{id}/report"),
    ] {
        let r = c.get(format!("http://{addr}{p}")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{p}");
        let r = c
            .get(format!("http://{addr}{p}"))
            .bearer_auth(OFFICER)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{p}");
    }
    // A bearer header works for a page form too (a script, not a browser).
    let r = c
        .post(format!("http://{addr}/drills/{id}/stop"))
        .bearer_auth(ADMIN)
        .form_body(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    app.shutdown().await;
}
