//! `commwatch token new`: the printed token opens the daemon once its printed lines are pasted
//! into the configuration, with the role asked for and no other.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clap::Parser;
use commwatch::cli::{Cli, Command};

fn new_token(args: &[&str]) -> Result<String, String> {
    let argv = ["commwatch", "token", "new"].iter().chain(args.iter());
    let Command::Token { action } = Cli::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .command
    else {
        unreachable!("parsed a token command")
    };
    let mut out = Vec::new();
    commwatch::cli::token::run(action, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_token_opens_the_daemon_with_its_role() {
    let printed = new_token(&["--name", "truc-ban-2", "--role", "viewer"]).unwrap();
    // The token is the one indented line of hex; the config lines start at the table header.
    let token = printed
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .expect("a token in the output")
        .to_string();
    let lines = &printed[printed.find("[[auth.tokens]]").unwrap()..];
    assert!(
        !lines.contains(&token),
        "the config lines must hold only the digest"
    );
    let dir = tempfile::tempdir().unwrap();
    let app = common::start_app(dir.path(), &format!("[auth]\npublic = false\n\n{lines}\n")).await;
    let addr = app.local_addr();
    let c = common::client();
    let get = |t: Option<&str>| {
        let mut r = c.get(format!("http://{addr}/api/v1/status"));
        if let Some(t) = t {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 401);
    assert_eq!(get(Some(&token)).await.unwrap().status(), 200);
    // A viewer may read, not write.
    let r = c
        .post(format!("http://{addr}/api/v1/drills"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    app.shutdown().await;

    // Two tokens are never the same; bad names and roles are refused.
    let again = new_token(&["--name", "truc-ban-2", "--role", "viewer"]).unwrap();
    assert_ne!(again, printed);
    assert!(new_token(&["--name", " ", "--role", "officer"]).is_err());
    // Any name the configuration takes, quotes included, pastes into a valid configuration.
    let printed = new_token(&["--name", "Trực ban \"ca 2\"", "--role", "officer"]).unwrap();
    let lines = &printed[printed.find("[[auth.tokens]]").unwrap()..];
    let dir = tempfile::tempdir().unwrap();
    let cfg = commwatch::config::Config::from_str_at(&dir.path().join("c.toml"), lines)
        .unwrap_or_else(|e| panic!("{e}\n{lines}"));
    assert_eq!(cfg.auth.tokens[0].name, "Trực ban \"ca 2\"");
    assert!(new_token(&["--name", "x", "--role", "root"]).is_err());
}
