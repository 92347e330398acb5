//! A full disk: the database lives on a small tmpfs the test mounts (root only), a filler file
//! takes the space, storage degrades while probing goes on, and once space is freed the backlog
//! drains with nothing lost.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_degrades_storage_and_drains_when_space_returns() {
    if !needs::root(
        "a_full_disk_degrades_storage_and_drains_when_space_returns",
        "it mounts a small tmpfs",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let st = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=4m",
            "commwatch-test",
            mnt.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs failed");
    let _guard = Mount(mnt.clone());

    let ok = http_server(200).await;
    let mut targets = String::new();
    for i in 0..40 {
        targets.push_str(&format!(
            "[[targets]]\nid = \"t{i}\"\nkind = \"http\"\nurl = \"http://{ok}/\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n\n"
        ));
    }
    // About SQLite's file on a full disk: a SQLite file whatever `COMMWATCH_TEST_STORE` says.
    let app = start_app_sqlite(&mnt, &targets).await;
    let addr = app.local_addr();
    let store = app.state.store.clone();
    store.flush().await.unwrap();

    // Take all but a sliver of the space.
    let free = {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&mnt)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![0u8; free.saturating_sub(8 * 1024) as usize]).ok();
    wait_for(
        Duration::from_secs(60),
        "storage degraded by a full disk",
        || async {
            let (code, body) = get_text(addr, "/readyz").await;
            (code == 503 && body.contains("degraded")).then_some(())
        },
    )
    .await;
    let degraded_at = chrono::Utc::now();
    // Probing continues while the disk is full.
    wait_for(
        Duration::from_secs(10),
        "fresh results on a full disk",
        || async {
            let st = states(addr).await;
            let at = chrono::DateTime::parse_from_rfc3339(st["t0"]["last"]["at"].as_str()?).ok()?;
            (at > degraded_at + chrono::Duration::seconds(1)).then_some(())
        },
    )
    .await;
    let taken_while_full = app.state.board.get("t0").unwrap().last.unwrap().at;

    std::fs::remove_file(&filler).unwrap();
    tokio::time::timeout(Duration::from_secs(30), store.flush())
        .await
        .expect("backlog drains once space is back")
        .unwrap();
    let (code, _) = get_text(addr, "/readyz").await;
    assert_eq!(code, 200);
    let recent = store.recent_samples("t0", 10_000).await.unwrap();
    assert!(
        recent.iter().any(|s| s.at == taken_while_full),
        "sample taken while the disk was full is lost"
    );
    drop(store);
    app.shutdown().await;
}
