//! The drill pages over real HTTP: an admin signs in, starts a drill from the page form, an
//! officer adds a note, the banner shows on every page while it runs, the admin stops it; the
//! report's HTML, CSV and JSON then agree, hostile names are escaped everywhere, and forms
//! without the page's form token, the right role or a session are refused.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "support/report_check.rs"]
mod report_check;

use std::net::SocketAddr;
use std::time::Duration;

use common::pages::*;
use common::*;
use commwatch::web::page::i18n::Lang;

const ADMIN: &str = "admin-secret-token";
const OFFICER: &str = "officer-secret-token";
const EVIL: &str = "<script>alert('x')</script> \"q\" & '=SUM(A1)'";
const EVIL_COMMUNE: &str = "<img src=x onerror=alert(1)>";
const RTL: &str = "\u{202E}gnp.exe — Trạm Cẩm Xuyên";

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

/// Starts a one-hour drill over every target with the API; its id.
async fn start_over_everything(c: &reqwest::Client, addr: SocketAddr, name: &str) -> i64 {
    let r = c
        .post(format!("http://{addr}/api/v1/drills"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({ "name": name, "scope": {}, "duration": "1h" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
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
    let id = start_over_everything(&c, addr, "Kiểm tra").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_form_errors_read_in_the_page_language() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let refused = refused_addr().await;
    let app = start_app(dir.path(), &config(ok, refused)).await;
    let addr = app.local_addr();
    let c = no_redirects();
    // A drill over every target holds them all.
    let id = start_over_everything(&c, addr, "Bão số 9").await;
    let admin = sign_in(&c, addr, ADMIN).await;
    let en = format!("{admin}; lang=en");
    let (_, html) = page(&c, addr, "/drills", &admin).await;
    let token = form_token(&html);
    /// A form posted with an error, and what the page must say in each language.
    struct Case {
        what: &'static str,
        path: String,
        fields: Vec<(&'static str, &'static str)>,
        status: u16,
        vi: String,
        en: String,
    }
    let start = |extra: (&'static str, &'static str)| {
        vec![("name", "Trùng phạm vi"), ("operator", "viettel"), extra]
    };
    let notes = format!("/drills/{id}/notes");
    let cases = [
        Case {
            what: "overlap",
            path: "/drills".into(),
            fields: start(("duration", "1h")),
            status: 409,
            vi: format!("Cuộc diễn tập số {id} đang chạy trên một số mục tiêu trong phạm vi này"),
            en: format!(
                "Drill {id} is already running over some of these targets; stop it or narrow the scope."
            ),
        },
        Case {
            what: "duration",
            path: "/drills".into(),
            fields: start(("duration", "soon")),
            status: 400,
            vi: "Thời lượng: “soon” không phải là khoảng thời gian".into(),
            en: "Duration: “soon” is not a length of time".into(),
        },
        Case {
            what: "timing",
            path: "/drills".into(),
            fields: start(("duration", "30d")),
            status: 400,
            vi: "Thời lượng: tối đa 7 ngày.".into(),
            en: "Duration: at most 7 days.".into(),
        },
        Case {
            what: "time",
            path: notes.clone(),
            fields: vec![("text", "x"), ("at", "sắp tới")],
            status: 400,
            vi: "Thời điểm: “sắp tới” không phải là thời điểm".into(),
            en: "When: “sắp tới” is not a time".into(),
        },
        Case {
            what: "target",
            path: notes,
            fields: vec![("text", "cắt"), ("expected", "nope-1")],
            status: 400,
            vi: "Không có mục tiêu “nope-1” trong cấu hình.".into(),
            en: "No target “nope-1” is configured.".into(),
        },
    ];
    for case in &cases {
        let what = case.what;
        let mut fields = case.fields.clone();
        fields.push(("form_token", &token));
        for (cookie, want, not) in [
            (admin.as_str(), &case.vi, &case.en),
            (en.as_str(), &case.en, &case.vi),
        ] {
            let r = post(&c, addr, &case.path, Some(cookie), &fields).await;
            assert_eq!(r.status(), case.status, "{what}");
            let html = r.text().await.unwrap();
            assert!(html.contains("role=\"alert\""), "{what}: no error shown");
            assert!(
                html.contains(want.as_str()),
                "{what}: `{want}` missing in\n{html}"
            );
            assert!(!html.contains(not.as_str()), "{what}: other language shown");
            // The service's English wording never reaches the Vietnamese page.
            for english in ["is already running", "is not a", "no target `", "must be"] {
                assert!(
                    cookie != admin || !html.contains(english),
                    "{what}: `{english}` on the page"
                );
            }
        }
    }
    // Stopping twice: the second answer says, in Vietnamese, that it already ended.
    let (_, html) = page(&c, addr, &format!("/drills/{id}"), &admin).await;
    let stop = format!("/drills/{id}/stop");
    let token = form_token(&html);
    let mut answer = String::new();
    for want in [303, 409] {
        let r = post(&c, addr, &stop, Some(&admin), &[("form_token", &token)]).await;
        assert_eq!(r.status(), want);
        answer = r.text().await.unwrap();
    }
    assert!(answer.contains(&format!("Cuộc diễn tập số {id} đã kết thúc.")));
    app.shutdown().await;
}
