//! The peers commwatch is measured against, from Debian's packages: Prometheus
//! blackbox_exporter (run on loopback with a generated config and driven through its
//! `/probe` endpoint) and fping.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::BenchError;

/// Where Debian puts the peers' binaries, then the upstream names on `PATH`.
const BLACKBOX: [&str; 2] = ["/usr/bin/prometheus-blackbox-exporter", "blackbox_exporter"];

fn on_path(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|c| c.is_file())
}

pub fn blackbox_binary() -> Option<PathBuf> {
    BLACKBOX.iter().find_map(|n| on_path(n))
}

pub fn fping_binary() -> Option<PathBuf> {
    ["/usr/bin/fping", "fping"].iter().find_map(|n| on_path(n))
}

/// The modules commwatch's probes are compared with: same timeout, IPv4, no fallback.
fn blackbox_config() -> String {
    let query = crate::probe_cost::DNS_QUERY;
    format!(
        "modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  tcp_connect:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  icmp:
    prober: icmp
    timeout: 5s
    icmp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  dns_a:
    prober: dns
    timeout: 5s
    dns:
      query_name: {query}
      query_type: A
      transport_protocol: udp
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
"
    )
}

pub struct Blackbox {
    child: Child,
    pid: u32,
    base: String,
    probe_url: url::Url,
    client: reqwest::Client,
}

impl Blackbox {
    pub async fn start(bin: &Path, dir: &Path) -> Result<Blackbox, BenchError> {
        let cfg = dir.join("blackbox.yml");
        std::fs::write(&cfg, blackbox_config())
            .map_err(|e| BenchError::io("writing the blackbox config", e))?;
        // Take a free port from the kernel; the exporter binds it a moment later.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| BenchError::io("choosing a port", e))?
            .port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::io(&format!("starting {}", bin.display()), e))?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::Child("blackbox_exporter exited at once".into()))?;
        // A pooled client, as Prometheus keeps its scrape connections open.
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let probe_url = url::Url::parse(&format!("{base}/probe"))
            .map_err(|e| BenchError::Child(e.to_string()))?;
        let bb = Blackbox {
            child,
            pid,
            base,
            probe_url,
            client,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = bb.client.get(format!("{}/-/healthy", bb.base)).send().await
                && r.status().is_success()
            {
                return Ok(bb);
            }
            if Instant::now() > deadline {
                return Err(BenchError::Child(
                    "blackbox_exporter did not become healthy".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// One probe through `/probe`; true when the exporter reports `probe_success 1`.
    pub fn probe(
        &self,
        module: &'static str,
        target: &str,
    ) -> impl std::future::Future<Output = bool> + Send + 'static {
        let mut url = self.probe_url.clone();
        url.query_pairs_mut()
            .append_pair("module", module)
            .append_pair("target", target);
        let req = self.client.get(url);
        async move {
            match req.send().await {
                Ok(r) if r.status().is_success() => r
                    .text()
                    .await
                    .is_ok_and(|t| t.lines().any(|l| l == "probe_success 1")),
                _ => false,
            }
        }
    }

    pub async fn stop(mut self) {
        let _ = crate::os::terminate(self.pid);
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
