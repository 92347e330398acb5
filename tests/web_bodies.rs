//! Every JSON write endpoint, generated from `docs/openapi.json` (which `web_api.rs` keeps equal
//! to the routes the server defines): a malformed body, a body of the wrong type, a field of
//! the wrong type, an oversized body and a wrong content type each get their own 4xx with the
//! API's JSON error — never a `405` because the same path also has a GET route.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use serde_json::Value;

const ADMIN: &str = "admin-token-for-body-tests";
const PUSH_TOKEN: &str = "push-token-for-body-tests";

fn spec() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `(path, schema)` of every operation that takes a JSON body.
fn json_writes(spec: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if let Some(schema) = op
                .pointer("/requestBody/content/application~1json/schema")
                .cloned()
            {
                out.push((method.to_uppercase(), path.clone(), schema));
            }
        }
    }
    out
}

/// A string property of the body, to send as a number.
fn string_field(schema: &Value) -> Option<String> {
    schema["properties"]
        .as_object()?
        .iter()
        .find(|(_, p)| p["type"] == "string")
        .map(|(k, _)| k.clone())
}

fn url(addr: SocketAddr, path: &str) -> String {
    let p = path.replace("{target}", "hb-1").replace("{id}", "1");
    format!("http://{addr}{p}")
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let token = if path.contains("/push/") {
        PUSH_TOKEN
    } else {
        ADMIN
    };
    let r = common::client()
        .request(method.parse().unwrap(), url(addr, path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_write_answers_bad_bodies_with_the_right_4xx() {
    let digest = common::pages::hex(ADMIN);
    let dir = tempfile::tempdir().unwrap();
    let app = common::start_app(
        dir.path(),
        &format!(
            r#"
[[auth.tokens]]
name = "quan-tri"
role = "admin"
sha256 = "{digest}"

[[targets]]
id = "hb-1"
name = "Máy phát Thạch Hà"
kind = "heartbeat"
token = "{PUSH_TOKEN}"
period = "60s"
grace = "30s"
"#
        ),
    )
    .await;
    let addr = app.local_addr();
    let writes = json_writes(&spec());
    assert!(
        writes.len() >= 5,
        "the spec lists only {} JSON writes: {writes:?}",
        writes.len()
    );
    let mut failures = Vec::new();
    // Each check returns the body and, when the answer is wrong, what was wrong.
    let check = |what: &str, method: &str, path: &str, got: (u16, Value), want: u16, code: &str| {
        let (status, body) = got;
        let got_code = body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("");
        let wrong = (status != want || got_code != code)
            .then(|| format!("{method} {path} with {what}: {status} {body}, want {want} {code}"));
        (body, wrong)
    };
    for (method, path, schema) in &writes {
        let json = "application/json";
        let got = send(addr, method, path, json, b"{\"unclosed\": ".to_vec()).await;
        failures.extend(check("malformed JSON", method, path, got, 400, "invalid_body").1);
        let got = send(addr, method, path, json, b"[1, 2]".to_vec()).await;
        failures.extend(check("an array", method, path, got, 400, "invalid_body").1);
        if let Some(field) = string_field(schema) {
            let body = format!("{{\"{field}\": 12345}}").into_bytes();
            let got = send(addr, method, path, json, body).await;
            let (b, wrong) = check(
                "a number for a string",
                method,
                path,
                got,
                400,
                "invalid_body",
            );
            failures.extend(wrong);
            let msg = b
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !msg.contains(&field) {
                failures.push(format!(
                    "{method} {path}: the error does not name `{field}`: {msg}"
                ));
            }
        }
        let big = format!("{{\"x\": \"{}\"}}", "a".repeat(2 * 1024 * 1024)).into_bytes();
        let got = send(addr, method, path, json, big).await;
        failures.extend(check("a 2 MiB body", method, path, got, 413, "payload_too_large").1);
        let got = send(addr, method, path, "text/plain", b"{\"a\": 1}".to_vec()).await;
        failures.extend(
            check(
                "text/plain",
                method,
                path,
                got,
                415,
                "unsupported_media_type",
            )
            .1,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The optional comment of an acknowledgement may be left out (as on the page): `{}` is a
    // valid body and the answer is about the incident, not the body.
    let (status, body) = send(
        addr,
        "POST",
        "/api/v1/incidents/{id}/ack",
        "application/json",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    app.shutdown().await;
}
