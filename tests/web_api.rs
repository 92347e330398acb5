//! The JSON API against docs/openapi.json: every route the server defines is in the spec (and
//! only those), every response the tests fetch is declared there and its JSON validates against
//! the declared schema; acknowledgements; the event stream, which ends on shutdown; private
//! mode.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::time::Duration;

use common::*;
use commwatch::app::App;
use commwatch::config::Config;
use serde_json::Value;
use sha2::Digest;

const OFFICER: &str = "officer-secret-token";
const VIEWER: &str = "viewer-secret-token";
const ADMIN: &str = "admin-secret-token";

fn spec() -> Value {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json"))
            .expect("docs/openapi.json");
    serde_json::from_str(&text).expect("docs/openapi.json is JSON")
}

/// `/api/v1/targets/{id}` → `/api/v1/targets/{}`: parameter names do not matter for matching.
fn normalise(template: &str) -> String {
    let mut out = String::new();
    let mut skip = false;
    for c in template.chars() {
        match c {
            '{' => {
                skip = true;
                out.push_str("{}");
            }
            '}' => skip = false,
            _ if skip => {}
            c => out.push(c),
        }
    }
    out
}

/// The routes src/web defines, read from the `warp::path!` invocations of every file in it (so a
/// file moved or added cannot drop out of the check).
fn source_routes() -> BTreeSet<String> {
    fn read_all(dir: &Path, out: &mut String) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                read_all(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut src = String::new();
    read_all(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web"),
        &mut src,
    );
    let mut out = BTreeSet::new();
    if src.contains("warp::path::end()") {
        out.insert("/".to_string());
    }
    for part in src.split("warp::path!(").skip(1) {
        let inner = &part[..part.find(')').unwrap()];
        let segs: Vec<String> = inner
            .split('/')
            .map(|s| s.trim())
            .map(|s| {
                if s.starts_with('"') {
                    s.trim_matches('"').to_string()
                } else {
                    "{}".to_string()
                }
            })
            .collect();
        out.insert(format!("/{}", segs.join("/")));
    }
    out
}

#[test]
fn spec_lists_exactly_the_routes_the_server_defines() {
    let spec = spec();
    assert_eq!(spec["openapi"].as_str().unwrap().chars().next(), Some('3'));
    let documented: BTreeSet<String> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| normalise(k))
        .collect();
    let defined = source_routes();
    assert!(
        defined.len() > 20,
        "route extraction found only {defined:?}"
    );
    let missing: Vec<_> = defined.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&defined).collect();
    assert!(
        missing.is_empty(),
        "routes missing from docs/openapi.json: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "docs/openapi.json documents routes the server lacks: {extra:?}"
    );
    // Every $ref points at a schema that exists.
    let text = spec.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &r[..r.find('"').unwrap()];
        assert!(
            spec["components"]["schemas"][name].is_object(),
            "dangling $ref {name}"
        );
    }
}

/// A small structural JSON-schema check: type (one or several), enum, required, properties,
/// additionalProperties, items, oneOf, $ref and the date-time format.
fn validate(spec: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        return validate(spec, &spec["components"]["schemas"][name], v, at, errs);
    }
    if let Some(alts) = schema.get("oneOf").and_then(Value::as_array) {
        let ok = alts
            .iter()
            .filter(|a| {
                let mut e = Vec::new();
                validate(spec, a, v, at, &mut e);
                e.is_empty()
            })
            .count();
        if ok != 1 {
            errs.push(format!("{at}: matches {ok} of the oneOf alternatives: {v}"));
        }
        return;
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = types.iter().any(|t| match *t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "string" => v.is_string(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => false,
        });
        if !fits {
            errs.push(format!("{at}: expected {types:?}, got {v}"));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errs.push(format!("{at}: {v} is not one of {e:?}"));
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && let Some(s) = v.as_str()
        && chrono::DateTime::parse_from_rfc3339(s).is_err()
    {
        errs.push(format!("{at}: `{s}` is not an RFC 3339 time"));
    }
    if let Some(obj) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                errs.push(format!("{at}: missing required `{r}`"));
            }
        }
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(spec, s, val, &format!("{at}.{k}"), errs),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errs.push(format!("{at}: undocumented field `{k}`"))
                    }
                    Some(s @ Value::Object(_)) => {
                        validate(spec, s, val, &format!("{at}.{k}"), errs)
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            validate(spec, items, x, &format!("{at}[{i}]"), errs);
        }
    }
}

/// Sends requests and checks each answer against the spec; remembers which paths were covered.
struct Checker {
    spec: Value,
    base: String,
    client: reqwest::Client,
    covered: HashSet<String>,
}

impl Checker {
    async fn call(
        &mut self,
        method: &str,
        template: &str,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
        want: u16,
    ) -> (Value, String) {
        let mut rb = self
            .client
            .request(method.parse().unwrap(), format!("{}{url}", self.base));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        // A JSON string is sent as a form body (the sign-in form), anything else as JSON.
        match body {
            Some(Value::String(form)) => {
                rb = rb
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form);
            }
            Some(b) => rb = rb.json(&b),
            None => {}
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| {
                v.to_str()
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap()
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        // Event streams never end while the app runs: read the headers only.
        let text = if ctype == "text/event-stream" {
            String::new()
        } else {
            resp.text().await.unwrap()
        };
        assert_eq!(status, want, "{method} {url}: {text}");
        let op = &self.spec["paths"][template][method.to_lowercase()];
        assert!(op.is_object(), "{method} {template} is not in the spec");
        let declared = &op["responses"][status.to_string()];
        assert!(
            declared.is_object(),
            "{method} {url} answered {status}, which the spec does not declare"
        );
        let media = &declared["content"][&ctype];
        assert!(
            media.is_object(),
            "{method} {url} answered {status} as `{ctype}`, the spec declares {}",
            declared["content"]
        );
        let mut value = Value::Null;
        if ctype == "application/json" {
            value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
            let mut errs = Vec::new();
            validate(&self.spec, &media["schema"], &value, "$", &mut errs);
            assert!(
                errs.is_empty(),
                "{method} {url} ({status}):\n{}",
                errs.join("\n")
            );
        }
        self.covered.insert(format!("{method} {template}"));
        (value, text)
    }
}

fn digest(t: &str) -> String {
    sha2::Sha256::digest(t.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn auth_toml(public: bool) -> String {
    format!(
        r#"
[auth]
public = {public}

[[auth.tokens]]
name = "truc-ban-1"
role = "officer"
sha256 = "{}"

[[auth.tokens]]
name = "xem"
role = "viewer"
sha256 = "{}"

[[auth.tokens]]
name = "quan-tri"
role = "admin"
sha256 = "{}"
"#,
        digest(OFFICER),
        digest(VIEWER),
        digest(ADMIN)
    )
}

/// Writes the config to disk (so a reload can re-read it) and starts the app on port 0.
async fn start(dir: &Path, body: &str) -> App {
    let path = dir.join("commwatch.toml");
    let (storage, _db) = stores::storage_for_test(dir);
    let text = format!("{storage}{body}");
    std::fs::write(&path, text).unwrap();
    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    App::start_with_listener(cfg, listener).await.unwrap()
}

fn targets_toml(ok: &str, flip: &str, refused: &str) -> String {
    format!(
        r#"
[defaults]
interval = "1s"
timeout = "500ms"
failure_threshold = 1
success_threshold = 1

[[targets]]
id = "ok-1"
name = "Viettel — Thành Sen"
kind = "http"
url = "http://{ok}/"
operator = "viettel"
service = "mobile"
province = "Hà Tĩnh"
commune = "Thành Sen"

[[targets]]
id = "flip-1"
name = "VNPT — Cẩm Xuyên"
kind = "http"
url = "http://{flip}/"
expect_status = [200]
operator = "vnpt"
service = "mobile"
province = "Hà Tĩnh"
commune = "Cẩm Xuyên"

[[targets]]
id = "refused-1"
name = "VNPost — Kỳ Anh"
kind = "tcp"
address = "{refused}"
operator = "vnpost"
service = "postal"
province = "Hà Tĩnh"
commune = "Kỳ Anh"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_matches_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let (flip, status) = switch_server(503).await;
    let refused = refused_addr().await;
    let toml = format!(
        "{}{}",
        auth_toml(true),
        targets_toml(&ok.to_string(), &flip.to_string(), &refused.to_string())
    );
    let app = start(dir.path(), &toml).await;
    let addr = app.local_addr();
    let incident = open_incident(addr, "flip-1").await;
    wait_for(Duration::from_secs(20), "samples in the store", || {
        let store = app.state.store.clone();
        async move {
            store.flush().await.ok()?;
            (store.sample_count("ok-1").await.ok()? >= 2).then_some(())
        }
    })
    .await;

    let mut c = Checker {
        spec: spec(),
        base: format!("http://{addr}"),
        // Redirects are answers to check (the forms answer 303), not to follow.
        client: reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        covered: HashSet::new(),
    };
    // Pages, and answers checked only against the spec.
    for (template, url, want) in [
        ("/", "/", 200),
        ("/", "/?state=sideways", 400),
        (
            "/fragments/top",
            "/fragments/top?province=H%C3%A0%20T%C4%A9nh",
            200,
        ),
        ("/fragments/top", "/fragments/top?page=0", 400),
        ("/targets/{id}", "/targets/flip-1", 200),
        ("/targets/{id}", "/targets/nope", 404),
        ("/incidents", "/incidents?status=all", 200),
        ("/incidents", "/incidents?status=later", 400),
        ("/groups/{by}", "/groups/operator?range=7d", 200),
        ("/groups/{by}", "/groups/colour", 404),
        ("/groups/{by}", "/groups/operator?range=soon", 400),
        (
            "/groups/{by}/{key}",
            "/groups/commune/C%E1%BA%A9m%20Xuy%C3%AAn?province=H%C3%A0%20T%C4%A9nh",
            200,
        ),
        ("/groups/{by}/{key}", "/groups/operator/nobody", 404),
        ("/groups/{by}/{key}", "/groups/operator/vnpt?range=x", 400),
        ("/assets/commwatch.css", "/assets/commwatch.css", 200),
        ("/assets/commwatch.js", "/assets/commwatch.js", 200),
        ("/api/v1/overview", "/api/v1/overview?per_page=9999", 400),
        ("/api/v1/targets", "/api/v1/targets?state=wobbly", 400),
        ("/api/v1/targets/{id}", "/api/v1/targets/nope", 404),
        (
            "/api/v1/targets/{id}/availability",
            "/api/v1/targets/ok-1/availability?range=1h",
            200,
        ),
        (
            "/api/v1/targets/{id}/availability",
            "/api/v1/targets/ok-1/availability?range=forever",
            400,
        ),
        (
            "/api/v1/targets/{id}/availability",
            "/api/v1/targets/nope/availability",
            404,
        ),
        (
            "/api/v1/targets/{id}/series",
            "/api/v1/targets/ok-1/series?range=3650d&resolution=minute",
            400,
        ),
        (
            "/api/v1/targets/{id}/series",
            "/api/v1/targets/nope/series",
            404,
        ),
        ("/api/v1/incidents", "/api/v1/incidents?status=half", 400),
        ("/api/v1/incidents", "/api/v1/incidents?target=nope", 404),
        (
            "/api/v1/groups/{by}/availability",
            "/api/v1/groups/colour/availability",
            404,
        ),
        (
            "/api/v1/groups/{by}/availability",
            "/api/v1/groups/operator/availability?from=yesterday",
            400,
        ),
        (
            "/api/v1/groups/{by}/{key}",
            "/api/v1/groups/operator/nobody",
            404,
        ),
        (
            "/api/v1/groups/{by}/{key}",
            "/api/v1/groups/operator/vnpt?range=-1h",
            400,
        ),
        ("/api/v1/events", "/api/v1/events", 200),
        ("/api/v1/events", "/api/v1/events?types=gossip", 400),
        ("/metrics", "/metrics", 200),
        ("/healthz", "/healthz", 200),
        ("/readyz", "/readyz", 200),
        ("/login", "/login", 200),
    ] {
        c.call("GET", template, url, None, None, want).await;
    }

    // API reads.
    let (ov, _) = c
        .call(
            "GET",
            "/api/v1/overview",
            "/api/v1/overview",
            None,
            None,
            200,
        )
        .await;
    assert_eq!(ov["summary"]["targets"], 3);
    assert_eq!(ov["top"]["incidents"][0]["id"], incident);
    let (ov, _) = c
        .call(
            "GET",
            "/api/v1/overview",
            "/api/v1/overview?q=cam%20xuyen",
            None,
            None,
            200,
        )
        .await;
    assert_eq!(ov["communes"].as_array().unwrap().len(), 1);
    assert_eq!(ov["communes"][0]["commune"], "Cẩm Xuyên");
    let (all, _) = c
        .call("GET", "/api/v1/targets", "/api/v1/targets", None, None, 200)
        .await;
    assert_eq!(all["total"], 3);
    let (some, _) = c
        .call(
            "GET",
            "/api/v1/targets",
            "/api/v1/targets?state=problem&limit=1",
            None,
            None,
            200,
        )
        .await;
    assert_eq!(some["total"], 2);
    assert_eq!(some["count"], 1);
    let (found, _) = c
        .call(
            "GET",
            "/api/v1/targets",
            "/api/v1/targets?q=KY%20ANH",
            None,
            None,
            200,
        )
        .await;
    assert_eq!(found["targets"][0]["id"], "refused-1");
    let (one, _) = c
        .call(
            "GET",
            "/api/v1/targets/{id}",
            "/api/v1/targets/ok-1",
            None,
            None,
            200,
        )
        .await;
    assert!(one["uptime"]["24h"]["count"].as_u64().unwrap() >= 2);
    assert_eq!(one["uptime"]["24h"]["ratio"], 1.0);
    let (series, _) = c
        .call(
            "GET",
            "/api/v1/targets/{id}/series",
            "/api/v1/targets/ok-1/series?range=1h",
            None,
            None,
            200,
        )
        .await;
    assert!(!series["buckets"].as_array().unwrap().is_empty());
    let (inc, _) = c
        .call(
            "GET",
            "/api/v1/incidents",
            "/api/v1/incidents?status=open&operator=vnpt",
            None,
            None,
            200,
        )
        .await;
    assert_eq!(inc["incidents"][0]["id"], incident);
    assert_eq!(inc["incidents"][0]["acknowledged"], false);
    let (none, _) = c
        .call(
            "GET",
            "/api/v1/incidents",
            "/api/v1/incidents?status=open&commune=Th%C3%A0nh%20Sen",
            None,
            None,
            200,
        )
        .await;
    assert!(none["incidents"].as_array().unwrap().is_empty());
    let (g, _) = c
        .call(
            "GET",
            "/api/v1/groups/{by}/availability",
            "/api/v1/groups/commune/availability?range=1h",
            None,
            None,
            200,
        )
        .await;
    assert_eq!(g["groups"].as_array().unwrap().len(), 3);
    let (g, _) = c
        .call(
            "GET",
            "/api/v1/groups/{by}/{key}",
            "/api/v1/groups/operator/vnpt",
            None,
            None,
            200,
        )
        .await;
    assert_eq!(g["targets"][0]["id"], "flip-1");
    assert_eq!(g["incidents_open"][0]["id"], incident);
    let (st, _) = c
        .call("GET", "/api/v1/status", "/api/v1/status", None, None, 200)
        .await;
    assert_eq!(st["communes"], 3);

    // Acknowledgement: officer role, a comment, an open incident.
    let ack = "/api/v1/incidents/{id}/ack";
    let url = format!("/api/v1/incidents/{incident}/ack");
    let body = || Some(serde_json::json!({ "comment": "Đã gọi VNPT, đang điều xe máy phát" }));
    let (e, _) = c.call("POST", ack, &url, None, body(), 401).await;
    assert_eq!(e["error"]["code"], "unauthorized");
    let (e, _) = c.call("POST", ack, &url, Some(VIEWER), body(), 403).await;
    assert_eq!(e["error"]["code"], "forbidden");
    let (e, _) = c
        .call(
            "POST",
            ack,
            &url,
            Some(OFFICER),
            Some(serde_json::json!({ "comment": "x".repeat(2_001) })),
            400,
        )
        .await;
    assert_eq!(e["error"]["code"], "comment_too_long");
    let (e, _) = c
        .call(
            "POST",
            ack,
            &url,
            Some(OFFICER),
            Some(serde_json::json!({ "note": "x" })),
            400,
        )
        .await;
    assert_eq!(e["error"]["code"], "invalid_body");
    c.call(
        "POST",
        ack,
        "/api/v1/incidents/999999/ack",
        Some(OFFICER),
        body(),
        404,
    )
    .await;
    c.call(
        "POST",
        ack,
        "/api/v1/incidents/abc/ack",
        Some(OFFICER),
        body(),
        404,
    )
    .await;
    let (a, _) = c.call("POST", ack, &url, Some(OFFICER), body(), 201).await;
    assert_eq!(
        a["ack"]["author"], "truc-ban-1",
        "author comes from the token"
    );
    assert_eq!(a["ack"]["target"], "flip-1");
    let (inc, _) = c
        .call(
            "GET",
            "/api/v1/incidents",
            "/api/v1/incidents?status=open&target=flip-1",
            None,
            None,
            200,
        )
        .await;
    assert_eq!(inc["incidents"][0]["acknowledged"], true);
    assert_eq!(
        inc["incidents"][0]["acks"][0]["comment"],
        "Đã gọi VNPT, đang điều xe máy phát"
    );
    // The acknowledgement is in the database, not only in memory.
    let rows = stores::test_sql(
        dir.path(),
        &format!("SELECT author FROM incident_acks WHERE incident_id = {incident}"),
    );
    assert_eq!(rows[0][0].as_deref(), Some("truc-ban-1"));

    // The page form takes the same incident (a script may use its bearer header instead of
    // the session cookie and form token); errors are pages.
    let page_ack = "/incidents/{id}/ack";
    let page_url = format!("/incidents/{incident}/ack");
    let fields = |s: &str| Some(Value::String(s.to_string()));
    let back = "comment=&return=%2Ftargets%2Fflip-1";
    c.call("POST", page_ack, &page_url, None, fields(back), 401)
        .await;
    c.call("POST", page_ack, &page_url, Some(VIEWER), fields(back), 403)
        .await;
    let long = format!("comment={}", "x".repeat(2_001));
    c.call(
        "POST",
        page_ack,
        &page_url,
        Some(OFFICER),
        fields(&long),
        400,
    )
    .await;
    c.call(
        "POST",
        page_ack,
        "/incidents/999999/ack",
        Some(OFFICER),
        fields(back),
        404,
    )
    .await;
    let (_, html) = c
        .call(
            "POST",
            page_ack,
            &page_url,
            Some(OFFICER),
            fields(back),
            303,
        )
        .await;
    assert!(html.is_empty());
    let inc = get_json(addr, "/api/v1/incidents?status=open&target=flip-1").await;
    assert_eq!(inc["incidents"][0]["acks"].as_array().unwrap().len(), 2);
    assert_eq!(inc["incidents"][0]["acks"][1]["comment"], "");

    // The target recovers: its incident closes and can no longer be taken.
    status.store(200, std::sync::atomic::Ordering::Relaxed);
    wait_for(Duration::from_secs(20), "the incident to close", || async {
        let v = get_json(addr, "/api/v1/incidents?status=closed&target=flip-1").await;
        (v["incidents"][0]["id"] == incident).then_some(())
    })
    .await;
    let (e, _) = c.call("POST", ack, &url, Some(OFFICER), body(), 409).await;
    assert_eq!(e["error"]["code"], "incident_closed");
    c.call(
        "POST",
        page_ack,
        &page_url,
        Some(OFFICER),
        fields(back),
        409,
    )
    .await;

    // A wrong token at the sign-in form gets the form again.
    let (_, html) = c
        .call(
            "POST",
            "/login",
            "/login",
            None,
            Some(Value::String("token=x".into())),
            401,
        )
        .await;
    assert!(html.contains("type=\"password\""));
    // Signing out answers with the way back to the overview.
    c.call("POST", "/logout", "/logout", None, None, 303).await;

    // Operations.
    let (e, _) = c
        .call("POST", "/-/reload", "/-/reload", None, None, 401)
        .await;
    assert_eq!(e["error"]["code"], "unauthorized");
    c.call("POST", "/-/reload", "/-/reload", Some(OFFICER), None, 403)
        .await;
    c.call("POST", "/-/reload", "/-/reload", Some(ADMIN), None, 200)
        .await;

    // Alerting and heartbeat operations.
    let silence = serde_json::json!({ "matchers": { "operator": "vnpt" }, "duration": "1h", "reason": "Sửa cáp" });
    c.call(
        "POST",
        "/api/v1/silences",
        "/api/v1/silences",
        None,
        Some(silence.clone()),
        401,
    )
    .await;
    c.call(
        "POST",
        "/api/v1/silences",
        "/api/v1/silences",
        Some(OFFICER),
        Some(silence.clone()),
        403,
    )
    .await;
    let bad =
        serde_json::json!({ "matchers": { "colour": "red" }, "duration": "1h", "reason": "x" });
    c.call(
        "POST",
        "/api/v1/silences",
        "/api/v1/silences",
        Some(ADMIN),
        Some(bad),
        400,
    )
    .await;
    let (created, _) = c
        .call(
            "POST",
            "/api/v1/silences",
            "/api/v1/silences",
            Some(ADMIN),
            Some(silence),
            201,
        )
        .await;
    let (list, _) = c
        .call(
            "GET",
            "/api/v1/silences",
            "/api/v1/silences",
            None,
            None,
            200,
        )
        .await;
    assert_eq!(list["silences"][0]["id"], created["id"]);
    let sid = format!("/api/v1/silences/{}", created["id"]);
    c.call(
        "DELETE",
        "/api/v1/silences/{id}",
        &sid,
        Some(ADMIN),
        None,
        200,
    )
    .await;
    c.call(
        "DELETE",
        "/api/v1/silences/{id}",
        &sid,
        Some(ADMIN),
        None,
        404,
    )
    .await;
    c.call("DELETE", "/api/v1/silences/{id}", &sid, None, None, 401)
        .await;
    c.call(
        "DELETE",
        "/api/v1/silences/{id}",
        &sid,
        Some(OFFICER),
        None,
        403,
    )
    .await;
    c.call(
        "GET",
        "/api/v1/alerts/outbox",
        "/api/v1/alerts/outbox?status=dead",
        None,
        None,
        200,
    )
    .await;
    c.call(
        "GET",
        "/api/v1/alerts/outbox",
        "/api/v1/alerts/outbox?status=lost",
        None,
        None,
        400,
    )
    .await;
    let retry = "/api/v1/alerts/outbox/{id}/retry";
    c.call(
        "POST",
        retry,
        "/api/v1/alerts/outbox/999/retry",
        Some(ADMIN),
        None,
        404,
    )
    .await;
    c.call(
        "POST",
        retry,
        "/api/v1/alerts/outbox/999/retry",
        None,
        None,
        401,
    )
    .await;
    c.call(
        "POST",
        retry,
        "/api/v1/alerts/outbox/999/retry",
        Some(OFFICER),
        None,
        403,
    )
    .await;
    c.call(
        "POST",
        "/api/v1/push/{target}",
        "/api/v1/push/nope",
        None,
        None,
        404,
    )
    .await;
    c.call(
        "GET",
        "/api/v1/push/{target}",
        "/api/v1/push/nope?token=x&status=ok",
        None,
        None,
        404,
    )
    .await;

    // The blackbox-style probe endpoint: configured targets only.
    c.call("GET", "/probe", "/probe?target=ok-1", None, None, 200)
        .await;
    c.call("GET", "/probe", "/probe?target=nope", None, None, 404)
        .await;
    c.call(
        "GET",
        "/probe",
        "/probe?target=ok-1&module=icmp",
        None,
        None,
        400,
    )
    .await;

    // Drills over the API: start (admin), list, read, notes (officer), report, stop.
    let drills = "/api/v1/drills";
    let viettel = || {
        Some(serde_json::json!({
            "name": "Diễn tập bão số 3",
            "scope": { "operator": "viettel" },
            "duration": "1h",
            "interval": "1s",
            "baseline": "1h",
            "leaders": ["Nguyễn Văn A"]
        }))
    };
    c.call("POST", drills, drills, None, viettel(), 401).await;
    c.call("POST", drills, drills, Some(OFFICER), viettel(), 403)
        .await;
    let (e, _) = c
        .call(
            "POST",
            drills,
            drills,
            Some(ADMIN),
            Some(serde_json::json!({ "name": "x", "scope": {}, "duration": "soon" })),
            400,
        )
        .await;
    assert_eq!(e["error"]["code"], "invalid_drill");
    let (e, _) = c
        .call(
            "POST",
            drills,
            drills,
            Some(ADMIN),
            Some(serde_json::json!({ "name": "x", "scope": { "operator": "nobody" }, "duration": "1h" })),
            400,
        )
        .await;
    assert_eq!(e["error"]["code"], "empty_scope");
    let (d, _) = c
        .call("POST", drills, drills, Some(ADMIN), viettel(), 201)
        .await;
    let id = d["id"].as_i64().unwrap();
    assert_eq!(d["targets"], 1);
    assert_eq!(d["started_by"], "quan-tri");
    let (e, _) = c
        .call("POST", drills, drills, Some(ADMIN), viettel(), 409)
        .await;
    assert_eq!(e["error"]["code"], "drill_overlap");
    let (list, _) = c.call("GET", drills, drills, None, None, 200).await;
    assert_eq!(list["drills"][0]["id"], id);
    c.call(
        "GET",
        drills,
        "/api/v1/drills?running=maybe",
        None,
        None,
        400,
    )
    .await;
    let one = "/api/v1/drills/{id}";
    let (got, _) = c
        .call("GET", one, &format!("/api/v1/drills/{id}"), None, None, 200)
        .await;
    assert_eq!(got["name"], "Diễn tập bão số 3");
    c.call("GET", one, "/api/v1/drills/999", None, None, 404)
        .await;
    let notes = "/api/v1/drills/{id}/notes";
    let url = format!("/api/v1/drills/{id}/notes");
    let note = || {
        Some(serde_json::json!({
            "text": "14:05 cắt cáp quang Thành Sen",
            "expected_down": { "targets": ["ok-1"] }
        }))
    };
    c.call("POST", notes, &url, None, note(), 401).await;
    c.call("POST", notes, &url, Some(VIEWER), note(), 403).await;
    c.call(
        "POST",
        notes,
        &url,
        Some(OFFICER),
        Some(serde_json::json!({ "text": "  " })),
        400,
    )
    .await;
    c.call(
        "POST",
        notes,
        "/api/v1/drills/999/notes",
        Some(OFFICER),
        note(),
        404,
    )
    .await;
    let (n, _) = c
        .call("POST", notes, &url, Some(OFFICER), note(), 201)
        .await;
    assert_eq!(n["author"], "truc-ban-1");
    let (ns, _) = c.call("GET", notes, &url, None, None, 200).await;
    assert_eq!(ns["notes"][0]["expected_targets"][0], "ok-1");
    c.call("GET", notes, "/api/v1/drills/999/notes", None, None, 404)
        .await;

    // The same drill through the page forms (a bearer header stands in for the session).
    let form_notes = "/drills/{id}/notes";
    let url = format!("/drills/{id}/notes");
    let form = |s: &str| Some(Value::String(s.to_string()));
    c.call("POST", form_notes, &url, None, form("text=x"), 401)
        .await;
    c.call("POST", form_notes, &url, Some(VIEWER), form("text=x"), 403)
        .await;
    c.call(
        "POST",
        form_notes,
        &url,
        Some(OFFICER),
        form("text=x&at=later"),
        400,
    )
    .await;
    c.call(
        "POST",
        form_notes,
        "/drills/999/notes",
        Some(OFFICER),
        form("text=x"),
        404,
    )
    .await;
    c.call(
        "POST",
        form_notes,
        &url,
        Some(OFFICER),
        form("text=M%C3%A1y+ph%C3%A1t+%C4%91%C3%A3+ch%E1%BA%A1y"),
        303,
    )
    .await;

    // The report as page, CSV, JSON and API.
    wait_for(Duration::from_secs(20), "drill samples", || {
        let store = app.state.store.clone();
        async move {
            store.flush().await.ok()?;
            (store.sample_count("ok-1").await.ok()? >= 4).then_some(())
        }
    })
    .await;
    let page = "/drills/{id}";
    c.call("GET", "/drills", "/drills", None, None, 200).await;
    let (_, html) = c
        .call("GET", page, &format!("/drills/{id}"), None, None, 200)
        .await;
    assert!(html.contains("Diễn tập bão số 3") && html.contains("Máy phát đã chạy"));
    let (_, csv) = c
        .call(
            "GET",
            page,
            &format!("/drills/{id}.csv?lang=en"),
            None,
            None,
            200,
        )
        .await;
    assert!(csv.starts_with("\u{feff}# Summary\r\nfield,value\r\n"));
    let (rep, _) = c
        .call("GET", page, &format!("/drills/{id}.json"), None, None, 200)
        .await;
    assert_eq!(rep["summary"]["targets"], 1);
    assert_eq!(rep["targets"][0]["id"], "ok-1");
    assert_eq!(rep["notes"].as_array().unwrap().len(), 2);
    c.call("GET", page, "/drills/999", None, None, 404).await;
    c.call("GET", page, "/drills/x.json", None, None, 404).await;
    let report = "/api/v1/drills/{id}/report";
    let (rep, _) = c
        .call(
            "GET",
            report,
            &format!("/api/v1/drills/{id}/report"),
            None,
            None,
            200,
        )
        .await;
    assert_eq!(rep["drill"]["id"], id);
    c.call("GET", report, "/api/v1/drills/999/report", None, None, 404)
        .await;

    // Stop over the API; a second stop conflicts.
    let stop = "/api/v1/drills/{id}/stop";
    let url = format!("/api/v1/drills/{id}/stop");
    c.call("POST", stop, &url, None, None, 401).await;
    c.call("POST", stop, &url, Some(OFFICER), None, 403).await;
    c.call(
        "POST",
        stop,
        "/api/v1/drills/999/stop",
        Some(ADMIN),
        None,
        404,
    )
    .await;
    let (d, _) = c.call("POST", stop, &url, Some(ADMIN), None, 200).await;
    assert_eq!(d["end_reason"], "stopped");
    assert_eq!(d["stopped_by"], "quan-tri");
    let (e, _) = c.call("POST", stop, &url, Some(ADMIN), None, 409).await;
    assert_eq!(e["error"]["code"], "drill_ended");

    // Start and stop from the page form.
    let start = "name=T%E1%BA%ADp+hu%E1%BA%A5n&operator=vnpt&duration=1h&interval=1s";
    c.call("POST", "/drills", "/drills", None, form(start), 401)
        .await;
    c.call(
        "POST",
        "/drills",
        "/drills",
        Some(OFFICER),
        form(start),
        403,
    )
    .await;
    c.call(
        "POST",
        "/drills",
        "/drills",
        Some(ADMIN),
        form("name=x&duration=soon"),
        400,
    )
    .await;
    c.call("POST", "/drills", "/drills", Some(ADMIN), form(start), 303)
        .await;
    c.call("POST", "/drills", "/drills", Some(ADMIN), form(start), 409)
        .await;
    let (list, _) = c
        .call(
            "GET",
            drills,
            "/api/v1/drills?running=true",
            None,
            None,
            200,
        )
        .await;
    let second = list["drills"][0]["id"].as_i64().unwrap();
    assert_ne!(second, id);
    let stop_form = "/drills/{id}/stop";
    let url = format!("/drills/{second}/stop");
    c.call("POST", stop_form, &url, None, form("form_token="), 401)
        .await;
    c.call(
        "POST",
        stop_form,
        &url,
        Some(OFFICER),
        form("form_token="),
        403,
    )
    .await;
    c.call(
        "POST",
        stop_form,
        "/drills/999/stop",
        Some(ADMIN),
        form("form_token="),
        404,
    )
    .await;
    c.call(
        "POST",
        stop_form,
        &url,
        Some(ADMIN),
        form("form_token="),
        303,
    )
    .await;
    c.call(
        "POST",
        stop_form,
        &url,
        Some(ADMIN),
        form("form_token="),
        409,
    )
    .await;

    // Every documented operation was exercised.
    let mut missing = Vec::new();
    for (path, ops) in c.spec["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let k = format!("{} {path}", method.to_uppercase());
            if !c.covered.contains(&k) {
                missing.push(k);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations no test fetched: {missing:?}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_changes_and_acks_and_end_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let (flip, status) = switch_server(200).await;
    let refused = refused_addr().await;
    let toml = format!(
        "{}{}",
        auth_toml(true),
        targets_toml(&ok.to_string(), &flip.to_string(), &refused.to_string())
    );
    let app = start(dir.path(), &toml).await;
    let addr = app.local_addr();
    wait_for(Duration::from_secs(20), "flip-1 up", || async {
        (states(addr).await["flip-1"]["state"] == "up").then_some(())
    })
    .await;

    let mut resp = client()
        .get(format!("http://{addr}/api/v1/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let mut buf = String::new();
    let (_, hello) = next_event(&mut resp, &mut buf, |n, _| n == "hello").await;
    assert!(
        hello["types"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t != "sample")
    );
    assert!(buf.is_empty() || !buf.contains("event:sample"));

    status.store(503, std::sync::atomic::Ordering::Relaxed);
    let (_, change) = next_event(&mut resp, &mut buf, |n, v| {
        n == "state_changed" && v["target"] == "flip-1"
    })
    .await;
    assert_eq!(change["from"], "up");
    assert_eq!(change["to"], "down");
    assert_eq!(change["detail"], "status (503) in [200]");
    next_event(&mut resp, &mut buf, |n, v| {
        n == "incident" && v["target"] == "flip-1"
    })
    .await;

    let incident = open_incident(addr, "flip-1").await;
    let r = client()
        .post(format!("http://{addr}/api/v1/incidents/{incident}/ack"))
        .bearer_auth(OFFICER)
        .json(&serde_json::json!({ "comment": "đang xử lý" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, ack) = next_event(&mut resp, &mut buf, |n, _| n == "ack").await;
    assert_eq!(ack["incident_id"], incident);
    assert_eq!(ack["author"], "truc-ban-1");
    assert_eq!(ack["target"], "flip-1");

    // A client that asked for samples only gets samples.
    let mut samples = client()
        .get(format!("http://{addr}/api/v1/events?types=sample"))
        .send()
        .await
        .unwrap();
    let mut sbuf = String::new();
    let (_, s) = next_event(&mut samples, &mut sbuf, |n, _| n != "hello").await;
    assert_eq!(s["type"], "sample");

    // Shutdown does not wait for connected browsers: the streams end and the app stops.
    tokio::time::timeout(Duration::from_secs(15), app.shutdown())
        .await
        .expect("shutdown hung on an open event stream");
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match resp.chunk().await {
                Ok(Some(_)) => continue,
                _ => return,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the event stream did not end on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_pages_need_a_viewer_token() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let toml = format!(
        "{}{}",
        auth_toml(false),
        targets_toml(&ok.to_string(), &ok.to_string(), &ok.to_string())
    );
    let app = start(dir.path(), &toml).await;
    let addr = app.local_addr();
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, auth: Option<(&str, &str)>| {
        let mut rb = c.get(format!("http://{addr}{path}"));
        if let Some((k, v)) = auth {
            rb = rb.header(k, v);
        }
        rb.send()
    };
    let pages = [
        "/",
        "/fragments/top",
        "/targets/ok-1",
        "/incidents",
        "/groups/operator",
        "/groups/operator/viettel",
    ];
    let reads = [
        "/api/v1/overview",
        "/api/v1/targets",
        "/api/v1/targets/ok-1",
        "/api/v1/targets/ok-1/availability",
        "/api/v1/targets/ok-1/series",
        "/api/v1/incidents",
        "/api/v1/groups/operator/availability",
        "/api/v1/groups/operator/viettel",
        "/api/v1/status",
        "/api/v1/events",
        "/metrics",
    ];
    let bearer = format!("Bearer {VIEWER}");
    for path in pages {
        let r = get(path, None).await.unwrap();
        assert_eq!(r.status(), 303, "{path} readable without a token");
        assert_eq!(r.headers()["location"], "/login", "{path}");
        let r = get(path, Some(("authorization", &bearer))).await.unwrap();
        assert_eq!(r.status(), 200, "{path} refused a viewer token");
    }
    for path in reads {
        let r = get(path, None).await.unwrap();
        assert_eq!(r.status(), 401, "{path} readable without a token");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "unauthorized", "{path}");
        let r = get(path, Some(("authorization", &bearer))).await.unwrap();
        assert_eq!(r.status(), 200, "{path} refused a viewer token");
    }
    for path in [
        "/healthz",
        "/readyz",
        "/assets/commwatch.css",
        "/assets/commwatch.js",
        "/login",
    ] {
        let r = get(path, None).await.unwrap();
        assert_eq!(r.status(), 200, "{path} should stay open");
    }

    // A browser signs in once; the cookie opens pages, fragments and the event stream.
    let r = c
        .post(format!("http://{addr}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    let r = c
        .post(format!("http://{addr}/login"))
        .header("x-forwarded-proto", "https")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={VIEWER}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "cookie lacks {attr}: {cookie}");
    }
    let pair = cookie.split(';').next().unwrap().to_string();
    for path in pages.iter().chain(reads.iter()) {
        let r = get(path, Some(("cookie", &pair))).await.unwrap();
        assert_eq!(r.status(), 200, "{path} refused the session cookie");
    }
    // The cookie never writes: acknowledging needs the Authorization header.
    let r = c
        .post(format!("http://{addr}/api/v1/incidents/1/ack"))
        .header("cookie", &pair)
        .json(&serde_json::json!({ "comment": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.shutdown().await;
}
