//! Pings that go unanswered: the harness's own nftables table drops echo requests to chosen
//! loopback addresses where they arrive, so an ICMP probe of them waits until its timeout —
//! the ping counterpart of a simulated endpoint that hangs, and of a mobile site whose power
//! failed in the storm.
//!
//! The rule sits on the input hook, not on output: a packet dropped on output fails the
//! sender's `sendto` at once (EPERM), which is not what a dead site looks like; dropped on
//! input, the request left the prober and simply gets no reply. The table
//! (`ip commwatch_bench`) is replaced when created, deleted when dropped, and only ever
//! holds addresses in 127.0.0.0/8.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::BenchError;

const TABLE: &str = "commwatch_bench";
/// Elements per `add element` line: keeps each line of the script short.
const CHUNK: usize = 2_048;

/// The table, while it exists.
pub struct Silence {
    _table: (),
}

fn nft(script: &str) -> Result<(), BenchError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            BenchError::Child(format!(
                "cannot run nft ({e}): silencing pings needs nftables and root (apt-get install nftables)"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| BenchError::io("writing to nft", e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| BenchError::io("waiting for nft", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BenchError::Child(format!(
            "nft refused the harness's table (root needed): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Silence {
    /// Creates the (empty) table, replacing one a killed run may have left.
    pub fn new() -> Result<Silence, BenchError> {
        // `add` then `delete` in one transaction: deletes a leftover table, and is a no-op
        // otherwise (deleting a table that does not exist would fail the script).
        nft(&format!(
            "add table ip {TABLE}\ndelete table ip {TABLE}\n\
             table ip {TABLE} {{\n\
             \tset quiet {{ type ipv4_addr; }}\n\
             \tchain input {{ type filter hook input priority 0; policy accept;\n\
             \t\tip daddr @quiet icmp type echo-request drop\n\
             \t}}\n\
             }}\n"
        ))?;
        Ok(Silence { _table: () })
    }

    /// From now on, echo requests to `ips` go unanswered. All of them in one transaction,
    /// so they fall silent together.
    pub fn add(&self, ips: &[Ipv4Addr]) -> Result<(), BenchError> {
        if ips.is_empty() {
            return Ok(());
        }
        if let Some(ip) = ips.iter().find(|ip| !ip.is_loopback()) {
            return Err(BenchError::Child(format!(
                "refusing to silence {ip}: the harness only touches 127.0.0.0/8"
            )));
        }
        let mut script = String::with_capacity(ips.len() * 16);
        for chunk in ips.chunks(CHUNK) {
            let list: Vec<String> = chunk.iter().map(Ipv4Addr::to_string).collect();
            script.push_str(&format!(
                "add element ip {TABLE} quiet {{ {} }}\n",
                list.join(", ")
            ));
        }
        nft(&script)
    }
}

impl Drop for Silence {
    fn drop(&mut self) {
        if let Err(e) = nft(&format!("delete table ip {TABLE}\n")) {
            eprintln!("commwatch-bench: could not remove the nftables table {TABLE}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use commwatch::probe::{IcmpSpec, ProbeSpec, Prober};

    use super::*;

    fn root() -> bool {
        std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
    }

    async fn answered(prober: &Prober, ip: Ipv4Addr) -> bool {
        let spec = ProbeSpec::Icmp(IcmpSpec {
            host: ip.to_string(),
            count: 1,
            spacing: Duration::from_secs(1),
        });
        let obs = prober.run(&spec, Duration::from_millis(700)).await;
        obs.facts.icmp.is_some_and(|f| f.received == 1)
    }

    /// A silenced address gets no reply (the probe times out), its neighbour still answers,
    /// and once the table is dropped the silenced one answers again.
    #[tokio::test]
    async fn silenced_pings_time_out_until_the_table_goes() {
        if !root() || Command::new("nft").arg("--version").output().is_err() {
            eprintln!("SKIPPED: needs root and nft");
            return;
        }
        let prober = Prober::new().unwrap();
        let (quiet, loud) = (Ipv4Addr::new(127, 77, 0, 9), Ipv4Addr::new(127, 77, 0, 10));
        {
            let s = Silence::new().unwrap();
            s.add(&[quiet]).unwrap();
            assert!(!answered(&prober, quiet).await, "{quiet} still answers");
            assert!(answered(&prober, loud).await, "{loud} fell silent too");
            assert!(s.add(&[Ipv4Addr::new(10, 0, 0, 1)]).is_err());
        }
        assert!(
            answered(&prober, quiet).await,
            "{quiet} silent after the drop"
        );
    }
}
