//! Shared helpers for the deploy tests: a real commwatch probing loopback servers, the Debian
//! tools they call (failing loudly when one is missing), a guarded Prometheus process, and the
//! extraction of metric names from PromQL.

#![allow(dead_code)] // each test file uses a different subset

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

// The probe tests' helpers, for their HTTP request reader.
#[path = "../support/mod.rs"]
mod support;

use commwatch::app::App;
use commwatch::config::Config;
use tokio::io::AsyncWriteExt;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Series that Prometheus itself adds to every scrape. Dashboards and rules may use the ones
/// listed here; `tests/deploy_prometheus.rs` checks that a real Prometheus has each of them for
/// the commwatch job.
pub const PROMETHEUS_SERIES: &[&str] = &["up", "scrape_duration_seconds"];

/// The path of a tool from a Debian package. Panics (fails the test) with the package to install
/// when it is missing: these tests must never pass without having run the tool.
pub fn tool(binary: &str, package: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from));
    for d in dirs {
        let p = d.join(binary);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "`{binary}` is not installed: install the Debian package `{package}` \
         (apt-get install -y {package}); .ci/packages.txt lists every package these tests need"
    );
}

/// Runs a command to completion and returns its output; panics if it cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Asserts that a command succeeded, showing its output if not.
pub fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Target ids of the running commwatch: one that passes, one that fails (closed port).
pub const OK_TARGET: &str = "loopback-http";
pub const FAILING_TARGET: &str = "loopback-closed";
pub const INSTANCE: &str = "test-vantage";

/// A commwatch app probing two loopback endpoints, plus the HTTP server it probes.
pub struct Running {
    pub app: App,
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Running {
    pub async fn stop(self) {
        self.server.abort();
        self.app.shutdown().await;
    }
}

/// A minimal HTTP/1.1 server answering 200 to every request, on 127.0.0.1:0: the page the
/// HTTP target probes and the webhook the alert receiver posts to.
async fn http_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback http server");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                // One request per connection (probes do not reuse connections; the answer says
                // `connection: close` to the webhook client), read whole: closing a socket with
                // an unread body resets the connection under the client's feet.
                support::read_request(&mut sock).await;
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (addr, task)
}

/// A loopback port with nothing listening on it (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr").port()
}

/// A free loopback port for a child process to listen on.
pub fn free_port() -> u16 {
    closed_port()
}

/// The alert receiver of the test commwatch; it posts to the loopback HTTP server.
pub const RECEIVER: &str = "ops-webhook";

/// Starts commwatch on 127.0.0.1:0 and waits until both targets have been probed and the
/// failing target's alert has been delivered, so every family (including error counters,
/// lateness per kind and the alert delivery families, which appear with their first sample)
/// is in `/metrics`.
pub async fn start_commwatch() -> Running {
    commwatch::install_crypto_provider();
    let (http_addr, server) = http_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("commwatch.toml");
    let text = format!(
        r#"
[storage]
path = "{db}"

[alerting]
group_wait = "1s"
group_interval = "2s"
repeat_interval = "1h"

[[receivers]]
id = "{RECEIVER}"
kind = "webhook"
url = "http://{http_addr}/alerts"

[[routes]]
receiver = "{RECEIVER}"

[defaults]
interval = "1s"
timeout = "500ms"
failure_threshold = 2
success_threshold = 1

[[targets]]
id = "{OK_TARGET}"
name = "Loopback HTTP"
kind = "http"
url = "http://{http_addr}/"
operator = "vnpt"
service = "portal"
province = "Hà Tĩnh"
commune = "Thành Sen"

[[targets]]
id = "{FAILING_TARGET}"
name = "Loopback closed port"
kind = "tcp"
address = "127.0.0.1:{port}"
operator = "viettel"
service = "mobile"
province = "Hà Tĩnh"
commune = "Kỳ Anh"
"#,
        db = dir.path().join("commwatch.db").display(),
        port = closed_port(),
    );
    std::fs::write(&config_path, &text).expect("write config");
    let config = Config::from_str_at(&config_path, &text).expect("valid test config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind commwatch");
    let app = App::start_with_listener(config, listener)
        .await
        .expect("commwatch starts");
    let addr = app.local_addr();
    let running = Running {
        app,
        addr,
        server,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = fetch_metrics(addr).await;
        let ready =
            text.lines().any(|l| {
                l.starts_with("commwatch_probe_errors_total{") && l.contains(FAILING_TARGET)
            }) && text.lines().any(|l| {
                l.starts_with("commwatch_probes_total{")
                    && l.contains(OK_TARGET)
                    && l.contains("result=\"success\"")
                    && !l.ends_with(" 0")
            }) && text.lines().any(|l| {
                l.starts_with("commwatch_alert_deliveries_total{")
                    && l.contains("outcome=\"delivered\"")
            });
        if ready {
            return running;
        }
        assert!(
            Instant::now() < deadline,
            "commwatch did not probe both targets and deliver the alert within 30 s; /metrics:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// GET /metrics from a running commwatch.
pub async fn fetch_metrics(addr: SocketAddr) -> String {
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert!(
        resp.status().is_success(),
        "/metrics answered {}",
        resp.status()
    );
    resp.text().await.expect("metrics body")
}

/// Names of every sample in an exposition (histograms give their `_bucket`, `_sum` and `_count`
/// names, exactly what a query can select).
pub fn sample_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Words that may stand where a metric name could, but are not one.
const NOT_METRICS: &[&str] = &[
    // aggregations (they may be followed by `by (...)` rather than `(`)
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "limitk",
    "limit_ratio",
    // binary operators and modifiers
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Skips a bracketed span starting at `i` (`open` at `chars[i]`), honouring quoted strings.
fn skip_group(chars: &[char], mut i: usize, open: char, close: char) -> usize {
    let mut depth = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(chars, i);
            continue;
        }
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
        i += 1;
    }
    i
}

/// Skips a quoted string starting at `i`.
fn skip_string(chars: &[char], i: usize) -> usize {
    let quote = chars[i];
    let mut j = i + 1;
    while j < chars.len() {
        if chars[j] == '\\' && quote != '`' {
            j += 2;
            continue;
        }
        if chars[j] == quote {
            return j + 1;
        }
        j += 1;
    }
    j
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The metric names a PromQL expression selects. Label matchers, ranges, strings, comments,
/// label lists after `by`/`without`/`on`/..., function and aggregation names, keywords, numbers,
/// durations and Grafana variables (`$x`, `${x}`) are not names.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_group(&chars, i, '{', '}'),
            '[' => i = skip_group(&chars, i, '[', ']'),
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '$' => {
                i += 1;
                if i < chars.len() && chars[i] == '{' {
                    i = skip_group(&chars, i, '{', '}');
                } else {
                    while i < chars.len() && is_ident(chars[i]) {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                // Numbers and durations (0.95, 5m, 1e3, 0x1f).
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_')
                {
                    i += 1;
                }
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let next = chars.get(j).copied();
                let lower = word.to_ascii_lowercase();
                if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
                    if next == Some('(') {
                        i = skip_group(&chars, j, '(', ')');
                    }
                } else if next == Some('(') || NOT_METRICS.contains(&lower.as_str()) {
                    // A function or aggregation call, or a keyword.
                } else {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The PromQL inside a Grafana template-variable query: `label_values(SELECTOR, label)` gives
/// `SELECTOR`, `query_result(EXPR)` gives `EXPR`; `label_values(label)` and `label_names()`
/// select no metric.
pub fn variable_promql(query: &str) -> Option<String> {
    let q = query.trim();
    if let Some(inner) = q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        // The selector ends at the last top-level comma; without one it is a bare label name.
        let chars: Vec<char> = inner.chars().collect();
        let mut depth = 0i32;
        let mut last_comma = None;
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '"' | '\'' | '`' => {
                    i = skip_string(&chars, i);
                    continue;
                }
                '(' | '{' | '[' => depth += 1,
                ')' | '}' | ']' => depth -= 1,
                ',' if depth == 0 => last_comma = Some(i),
                _ => {}
            }
            i += 1;
        }
        return last_comma.map(|at| chars[..at].iter().collect::<String>().trim().to_string());
    }
    if let Some(inner) = q
        .strip_prefix("query_result(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return Some(inner.to_string());
    }
    None
}

/// One PromQL query from a dashboard, with where it came from for messages.
#[derive(Debug, Clone)]
pub struct DashboardQuery {
    pub file: String,
    pub place: String,
    pub expr: String,
    /// `Some(label)` for a `label_values(selector, label)` variable: `expr` is the selector.
    pub label: Option<String>,
    /// An annotation query: it marks periods (a drill running) and is empty outside them.
    pub annotation: bool,
}

/// The files directly in `dir` (relative to the repository) whose names end with `suffix`,
/// sorted; panics if there are none, so a moved folder cannot make a check vacuous.
pub fn files_in(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {suffix} files in {dir}");
    files
}

/// Every dashboard JSON file in dashboards/.
pub fn dashboard_files() -> Vec<PathBuf> {
    files_in("dashboards", ".json")
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Panels of a dashboard, rows' nested panels included.
pub fn panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(p);
        for nested in p["panels"].as_array().into_iter().flatten() {
            out.push(nested);
        }
    }
    out
}

/// Every PromQL query of every dashboard: panel targets, template variables and Prometheus
/// annotations.
pub fn dashboard_queries() -> Vec<DashboardQuery> {
    let mut out = Vec::new();
    for path in dashboard_files() {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let d = read_json(&path);
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push(DashboardQuery {
                        file: file.clone(),
                        place: format!("panel `{}` ref {}", p["title"], t["refId"]),
                        expr: expr.to_string(),
                        label: None,
                        annotation: false,
                    });
                }
            }
        }
        for a in d["annotations"]["list"].as_array().into_iter().flatten() {
            // Grafana's built-in annotations have no query; Prometheus ones keep it in `expr`
            // (older JSON) or `target.expr`.
            if let Some(expr) = a["expr"].as_str().or_else(|| a["target"]["expr"].as_str()) {
                out.push(DashboardQuery {
                    file: file.clone(),
                    place: format!("annotation `{}`", a["name"]),
                    expr: expr.to_string(),
                    label: None,
                    annotation: true,
                });
            }
        }
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            if v["type"] != "query" {
                continue;
            }
            let q = v["query"]["query"]
                .as_str()
                .or_else(|| v["query"].as_str())
                .or_else(|| v["definition"].as_str())
                .unwrap_or_default();
            let Some(expr) = variable_promql(q) else {
                continue;
            };
            let label = q
                .trim()
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|r| r.rsplit_once(','))
                .map(|(_, l)| l.trim().to_string());
            out.push(DashboardQuery {
                file: file.clone(),
                place: format!("variable `{}`", v["name"]),
                expr,
                label,
                annotation: false,
            });
        }
    }
    out
}

/// A Prometheus server run by a test on loopback; killed when dropped.
pub struct Prometheus {
    child: Child,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts `prometheus` scraping `target` every second with the given rule files, and waits
    /// until it is ready.
    pub async fn start(target: SocketAddr, rule_files: &[PathBuf]) -> Prometheus {
        Self::start_with_jobs(target, rule_files, "").await
    }

    /// As `start`, with more scrape jobs (YAML list items indented by two spaces, as under
    /// `scrape_configs:`) after the `commwatch` job.
    pub async fn start_with_jobs(
        target: SocketAddr,
        rule_files: &[PathBuf],
        extra_jobs: &str,
    ) -> Prometheus {
        let binary = tool("prometheus", "prometheus");
        let mut dir = tempfile::tempdir().expect("tempdir");
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("  - {}\n", p.display()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n{}\
             scrape_configs:\n  - job_name: commwatch\n    static_configs:\n      \
             - targets: [\"{target}\"]\n        labels:\n          instance: {INSTANCE}\n{extra_jobs}",
            rules.concat()
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        // A free port can be taken between our probe and Prometheus' bind: retry a few times.
        for _attempt in 0..3 {
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
            let child = Command::new(&binary)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut p = Prometheus {
                child,
                url: format!("http://127.0.0.1:{port}"),
                dir,
            };
            match p.wait_ready().await {
                Ok(()) => return p,
                Err(exited) => {
                    let log = p.log();
                    if exited && log.contains("address already in use") {
                        dir = p.take_dir();
                        continue;
                    }
                    panic!("prometheus did not become ready:\n{log}");
                }
            }
        }
        panic!("prometheus could not bind a free loopback port in 3 attempts");
    }

    /// Waits for `/-/ready`. `Err(true)` if the process exited, `Err(false)` on time-out.
    async fn wait_ready(&mut self) -> Result<(), bool> {
        let client = http_client();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(true);
            }
            if let Ok(r) = client.get(format!("{}/-/ready", self.url)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(false)
    }

    /// Moves the temp dir out of a failed attempt (the guard still kills the process).
    fn take_dir(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// Prometheus' own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// GET an API path (with query parameters) and return the `data` field; panics unless the
    /// answer is `status: success`.
    pub async fn api(&self, path: &str, params: &[(&str, &str)]) -> serde_json::Value {
        let url =
            url::Url::parse_with_params(&format!("{}{path}", self.url), params).expect("API URL");
        let resp = http_client()
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let body: serde_json::Value = resp.json().await.expect("JSON answer");
        assert_eq!(
            body["status"], "success",
            "Prometheus refused {path} {params:?}: {body}"
        );
        body["data"].clone()
    }

    /// An instant query; returns the result vector.
    pub async fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let data = self.api("/api/v1/query", &[("query", promql)]).await;
        match data["resultType"].as_str() {
            Some("vector") | Some("matrix") => {
                data["result"].as_array().cloned().unwrap_or_default()
            }
            // Scalars and strings are one value.
            _ => vec![data["result"].clone()],
        }
    }

    /// Polls `promql` until `accept` holds for its result, or panics after `timeout`.
    pub async fn wait_for(
        &self,
        promql: &str,
        timeout: Duration,
        accept: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let result = self.query(promql).await;
            if accept(&result) {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "`{promql}` did not give the expected result within {timeout:?}; last result: {result:?}\nprometheus log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http_client() -> reqwest::Client {
    commwatch::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// The rule files in deploy/prometheus/ (every `*.rules.yml`).
pub fn rule_files() -> Vec<PathBuf> {
    files_in("deploy/prometheus", ".rules.yml")
}
