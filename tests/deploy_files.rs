//! The installation files: Alertmanager configuration (amtool), the systemd unit
//! (systemd-analyze), the service user (systemd-sysusers), the example configurations
//! (`commwatch check`) and the Debian package metadata.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod deploy_common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use deploy_common::*;

#[test]
fn alertmanager_config_is_valid_and_routes_by_province_and_operator() {
    let amtool = tool("amtool", "prometheus-alertmanager");
    let config = repo().join("deploy/alertmanager/alertmanager.yml");
    let out = run(Command::new(&amtool).arg("check-config").arg(&config));
    assert_success("amtool check-config", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));

    // Which receivers an alert reaches, as Alertmanager itself resolves the tree.
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "alertname=CommwatchTargetDown",
                "province=Hà Tĩnh",
                "operator=vnpt",
                "severity=warning",
            ],
            "ha-tinh-vnpt",
        ),
        (
            &[
                "alertname=CommwatchTargetDown",
                "province=Hà Tĩnh",
                "operator=viettel",
                "severity=warning",
            ],
            "ha-tinh-viettel",
        ),
        (
            &[
                "alertname=CommwatchOperatorOutage",
                "province=Hà Tĩnh",
                "operator=viettel",
                "severity=critical",
            ],
            "ha-tinh-duty,ha-tinh-viettel",
        ),
        (
            &[
                "alertname=CommwatchTargetDown",
                "province=Hà Tĩnh",
                "operator=vnpost",
                "severity=warning",
            ],
            "ha-tinh-duty",
        ),
        (
            &[
                "alertname=CommwatchDown",
                "instance=ops-room",
                "severity=critical",
            ],
            "commwatch-operators",
        ),
        (
            &[
                "alertname=CommwatchTargetDown",
                "province=Nghệ An",
                "operator=vnpt",
            ],
            "duty-officers",
        ),
    ];
    for (labels, receivers) in cases {
        let out = run(Command::new(&amtool)
            .args(["config", "routes", "test", "--config.file"])
            .arg(&config)
            .arg(format!("--verify.receivers={receivers}"))
            .args(*labels));
        assert_success(&format!("route of {labels:?} to {receivers}"), &out);
    }
}

/// The unit with its `/usr/bin/commwatch` replaced by the binary cargo built, since
/// systemd-analyze checks that executables exist.
fn unit_for_analysis(dir: &Path) -> std::path::PathBuf {
    let text =
        std::fs::read_to_string(repo().join("deploy/systemd/commwatch.service")).expect("unit");
    let path = dir.join("commwatch.service");
    std::fs::write(
        &path,
        text.replace("/usr/bin/commwatch", env!("CARGO_BIN_EXE_commwatch")),
    )
    .expect("write unit");
    path
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let analyze = tool("systemd-analyze", "systemd");
    let text =
        std::fs::read_to_string(repo().join("deploy/systemd/commwatch.service")).expect("unit");
    for line in [
        "User=commwatch",
        "ExecStart=/usr/bin/commwatch run -c /etc/commwatch/commwatch.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "AmbientCapabilities=CAP_NET_RAW",
        "CapabilityBoundingSet=CAP_NET_RAW",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "StateDirectory=commwatch",
        "ConfigurationDirectory=commwatch",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        "SystemCallFilter=@system-service",
    ] {
        assert!(text.lines().any(|l| l == line), "unit lacks `{line}`");
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_for_analysis(dir.path());
    let out = run(Command::new(&analyze).arg("verify").arg(&unit));
    assert_success("systemd-analyze verify", &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("commwatch.service"),
        "systemd-analyze verify warned about the unit:\n{stderr}"
    );

    // The exposure score is computed from the file alone; keep it in the "OK" band.
    let out = run(Command::new(&analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit));
    assert_success("systemd-analyze security", &out);
    let report = String::from_utf8_lossy(&out.stdout);
    let score: f64 = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for commwatch.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(score <= 2.0, "exposure {score} above 2.0:\n{report}");
}

#[test]
fn sysusers_file_creates_the_service_user() {
    let sysusers = tool("systemd-sysusers", "systemd");
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("etc")).expect("etc");
    std::fs::create_dir_all(root.path().join("usr/lib/sysusers.d")).expect("sysusers.d");
    std::fs::copy(
        repo().join("deploy/systemd/commwatch.sysusers"),
        root.path().join("usr/lib/sysusers.d/commwatch.conf"),
    )
    .expect("copy");
    let out = run(Command::new(&sysusers).arg(format!("--root={}", root.path().display())));
    assert_success("systemd-sysusers", &out);
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).expect("passwd");
    let entry = passwd
        .lines()
        .find(|l| l.starts_with("commwatch:"))
        .unwrap_or_else(|| panic!("no commwatch user in:\n{passwd}"));
    let fields: Vec<&str> = entry.split(':').collect();
    let uid: u32 = fields[2].parse().expect("uid");
    assert!(uid < 1000, "a system user, got uid {uid}");
    assert_eq!(fields[5], "/var/lib/commwatch");
    assert_eq!(fields[6], "/usr/sbin/nologin");
    let group = std::fs::read_to_string(root.path().join("etc/group")).expect("group");
    assert!(
        group.lines().any(|l| l.starts_with("commwatch:")),
        "{group}"
    );
}

#[test]
fn example_configurations_pass_commwatch_check() {
    for file in ["deploy/commwatch.toml", "deploy/container/commwatch.toml"] {
        let out = run(Command::new(env!("CARGO_BIN_EXE_commwatch"))
            .args(["check", "-c"])
            .arg(repo().join(file)));
        assert_success(&format!("commwatch check -c {file}"), &out);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("ok,"),
            "{file}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn deb_metadata_names_files_that_exist() {
    let manifest: toml::Table = std::fs::read_to_string(repo().join("Cargo.toml"))
        .expect("Cargo.toml")
        .parse()
        .expect("Cargo.toml parses");
    let deb = &manifest["package"]["metadata"]["deb"];
    let assets = deb["assets"].as_array().expect("assets");
    let mut dests = Vec::new();
    for a in assets {
        let a = a.as_array().expect("asset triple");
        let (src, dest) = (a[0].as_str().expect("src"), a[1].as_str().expect("dest"));
        if src != "target/release/commwatch" {
            assert!(repo().join(src).is_file(), "asset {src} does not exist");
        }
        dests.push(if dest.ends_with('/') {
            format!("/{dest}{}", src.rsplit('/').next().unwrap_or(src))
        } else {
            format!("/{dest}")
        });
    }
    assert!(dests.iter().any(|d| d == "/usr/bin/commwatch"), "{dests:?}");
    // Every dashboard ships, so a new one cannot be left out of the package.
    for d in dashboard_files() {
        let name = d.file_name().expect("file name").to_string_lossy();
        assert!(
            dests
                .iter()
                .any(|p| *p == format!("/usr/share/commwatch/dashboards/{name}")),
            "dashboards/{name} is not in the package's assets"
        );
    }
    for conf in deb["conf-files"].as_array().expect("conf-files") {
        let conf = conf.as_str().expect("conf-file");
        assert!(
            dests.iter().any(|d| d == conf),
            "conffile {conf} is not installed"
        );
    }
    let units = deb["systemd-units"]["unit-scripts"]
        .as_str()
        .expect("unit-scripts");
    assert!(repo().join(units).join("commwatch.service").is_file());
    assert!(repo().join(units).join("commwatch.sysusers").is_file());
    let scripts = deb["maintainer-scripts"]
        .as_str()
        .expect("maintainer-scripts");
    let postinst = repo().join(scripts).join("postinst");
    let mode = std::fs::metadata(&postinst)
        .expect("postinst")
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "postinst must be executable");
    let out = run(Command::new("sh").arg("-n").arg(&postinst));
    assert_success("sh -n postinst", &out);
    let text = std::fs::read_to_string(&postinst).expect("postinst");
    assert!(
        text.contains("#DEBHELPER#"),
        "postinst must keep the generated systemd snippets"
    );
}

#[test]
fn ci_package_list_names_every_tool_package() {
    let listed: Vec<String> = std::fs::read_to_string(repo().join(".ci/packages.txt"))
        .expect(".ci/packages.txt")
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut used = Vec::new();
    let mut sources = vec![repo().join("tests/deploy_common/mod.rs")];
    for entry in std::fs::read_dir(repo().join("tests")).expect("tests/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with("deploy_") && name.ends_with(".rs") {
            sources.push(path);
        }
    }
    for path in sources {
        let text = std::fs::read_to_string(&path).expect("read test");
        // Each call names the binary, then its Debian package, as two string literals.
        for call in text.split("tool(\"").skip(1) {
            if let Some(pkg) = call.split('"').nth(2) {
                used.push(pkg.to_string());
            }
        }
    }
    assert!(used.len() >= 4, "found only {used:?}");
    for pkg in used {
        assert!(listed.contains(&pkg), ".ci/packages.txt lacks `{pkg}`");
    }
}
