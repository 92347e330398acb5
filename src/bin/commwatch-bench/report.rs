//! The report: the machine it ran on, Markdown tables for people (stdout and `BENCHMARKS.md`),
//! and the same numbers as JSON for tools.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::promtext::Quantile;
use crate::{BenchError, probe_cost, scale, storm, sweep};

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub os: String,
    pub rustc: String,
    pub commwatch: String,
    pub blackbox_exporter: Option<String>,
    pub fping: Option<String>,
    pub open_files_limit: u64,
    /// /proc/loadavg when the run started: other work on the machine skews timings.
    pub load_at_start: String,
}

/// The first line a command prints (on stdout, or else stderr), e.g. its `--version`.
pub fn first_line_of(cmd: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

impl Machine {
    pub fn probe(blackbox: Option<&Path>, nofile: u64) -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_else(|| "unknown".into());
        let mem_kb: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| "unknown".into());
        let git = first_line_of("git", &["rev-parse", "--short", "HEAD"]);
        let dirty = first_line_of("git", &["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|l| !l.is_empty());
        let commwatch = format!(
            "{}{}",
            env!("CARGO_PKG_VERSION"),
            git.map(|g| format!(" ({g}{})", if dirty { ", modified" } else { "" }))
                .unwrap_or_default()
        );
        let blackbox_exporter = blackbox.and_then(|b| first_line_of(b, &["--version"]));
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: mem_kb / 1024.0 / 1024.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            os,
            rustc: first_line_of("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
            commwatch,
            blackbox_exporter,
            fping: first_line_of("fping", &["--version"]),
            open_files_limit: nofile,
            load_at_start: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub command: String,
    pub started_at: String,
    pub duration_s: f64,
    pub machine: Machine,
    pub probe_cost: Vec<probe_cost::Row>,
    pub sweep: Vec<sweep::Row>,
    pub scale: Vec<scale::Row>,
    pub storm: Option<storm::Row>,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(seconds: f64) -> String {
    let v = seconds * 1e3;
    if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 1000.0 {
        format!("{v:.0} ms")
    } else {
        format!("{:.2} s", seconds)
    }
}

fn quant(q: Option<Quantile>) -> String {
    match q {
        None => "–".into(),
        Some(Quantile {
            seconds,
            bucket_le: None,
        }) => format!("> {}", ms(seconds)),
        Some(q) => ms(q.seconds),
    }
}

fn max_le(m: Option<Option<f64>>) -> String {
    match m {
        None => "–".into(),
        Some(None) => "> 10 s".into(),
        Some(Some(le)) => format!("≤ {}", ms(le)),
    }
}

fn size(bytes: usize) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(
            s,
            "Measured {} by `{}` ({} mode, {:.0} s) on {} × {}, {:.1} GiB, {}, Linux {}; {}; commwatch {}; blackbox_exporter: {}; load average at start {}.\n",
            self.started_at,
            self.command,
            self.mode,
            self.duration_s,
            m.cores,
            m.cpu,
            m.memory_gib,
            m.os,
            m.kernel,
            m.rustc,
            m.commwatch,
            m.blackbox_exporter.as_deref().unwrap_or("not installed"),
            m.load_at_start
        );

        let _ = writeln!(s, "#### Probe cost (scenario 1)\n");
        if let Some(r) = self.probe_cost.first() {
            let _ = writeln!(
                s,
                "{} probes per row, paced at {}/s with at most *concurrency* in flight; the HTTP responder answers after 0.9 × concurrency / rate, so about that many probes are open at once. CPU is user + system time of the probing process (`/proc/PID/stat`): commwatch's prober in a worker process, blackbox_exporter driven through `/probe`. Median of the runs.\n",
                thousands(r.probes),
                r.paced_rate
            );
        }
        let _ = writeln!(
            s,
            "| probe | concurrency | commwatch CPU-s / 1,000 | blackbox_exporter CPU-s / 1,000 | commwatch ÷ blackbox | rate achieved (cw / bb) | failures (cw / bb) |\n|---|---:|---:|---:|---:|---|---|"
        );
        for r in &self.probe_cost {
            let (bb, ratio, rate, fail) = match &r.blackbox_exporter {
                Some(b) => (
                    format!("{:.3}", b.cpu_s_per_1000),
                    r.ratio.map_or("–".into(), |x| format!("{x:.2}")),
                    format!("{:.0} / {:.0} /s", r.commwatch.rate, b.rate),
                    format!("{} / {}", r.commwatch.failed, b.failed),
                ),
                None => (
                    "not installed".into(),
                    "–".into(),
                    format!("{:.0} /s", r.commwatch.rate),
                    r.commwatch.failed.to_string(),
                ),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {:.3} | {bb} | {ratio} | {rate} | {fail} |",
                r.kind, r.concurrency, r.commwatch.cpu_s_per_1000
            );
        }

        self.sweep_table(&mut s);

        let _ = writeln!(s, "\n#### Scale and readers (scenarios 3 and 4)\n");
        let _ = writeln!(
            s,
            "commwatch runs as its own process (`commwatch run -c generated.toml`) against simulated endpoints on 127.0.0.0/8. Numbers cover a window after a warm-up of one interval: CPU from `/proc/PID/stat`, RSS and peak RSS (VmRSS, VmHWM) from `/proc/PID/status`, probes and schedule lateness from `/metrics` (quantiles interpolated within histogram buckets, max as the bucket bound), samples from the SQLite file. Median of the runs.\n"
        );
        let _ = writeln!(
            s,
            "| case | targets (http / tcp / icmp / dns, hanging) | runs × window | probes/s | CPU (cores) | CPU-s / 1,000 probes | RSS / peak | lateness p50 / p99 / max | samples written/s | start / stop |\n|---|---|---|---:|---:|---:|---|---|---:|---|"
        );
        for r in &self.scale {
            let _ = writeln!(
                s,
                "| {} | {} ({} / {} / {} / {}, {}) | {} × {:.0} s | {:.0} | {:.3} | {:.3} | {:.0} / {:.0} MiB | {} / {} / {} | {:.0} | {:.1} s / {:.1} s |",
                r.name,
                thousands(r.targets as u64),
                thousands(r.http as u64),
                thousands(r.tcp as u64),
                thousands(r.icmp as u64),
                thousands(r.dns as u64),
                thousands(r.hanging as u64),
                r.runs,
                r.window_s,
                r.probes_per_s,
                r.cpu_cores,
                r.cpu_s_per_1000_probes,
                r.rss_mb,
                r.peak_rss_mb,
                quant(r.lateness_p50),
                quant(r.lateness_p99),
                max_le(if r.lateness_max_beyond_buckets {
                    Some(None)
                } else {
                    r.lateness_max_le.map(Some)
                }),
                r.samples_written_per_s,
                r.startup_s,
                r.stop_s,
            );
        }
        let _ = writeln!(
            s,
            "\n| readers, while probing | path | size | time to first byte | total |\n|---|---|---:|---:|---:|"
        );
        for r in &self.scale {
            for x in &r.readers {
                let _ = writeln!(
                    s,
                    "| {} | `{}` | {} | {} | {} |",
                    r.name,
                    x.path,
                    size(x.bytes),
                    ms(x.ttfb_ms / 1e3),
                    ms(x.total_ms / 1e3)
                );
            }
        }
        self.storm_table(&mut s);
        s
    }
}

impl Report {
    fn storm_table(&self, s: &mut String) {
        let Some(r) = &self.storm else { return };
        let _ = writeln!(s, "\n#### Storm (scenario 5)\n");
        let _ = writeln!(
            s,
            "{} targets (the first of the national inventory: mobile sites pinged, the rest over HTTP, TCP and DNS) probed every {} s and confirmed UP, then every simulated endpoint refuses connections and every pinged address stops answering (an nftables rule drops its echo requests). DOWN needs {} failed probes in a row; the time is read from `/api/v1/targets` every 0.5 s. Alerts go to a webhook receiver on loopback, grouped by province and operator ({} groups among these targets) with a group wait of {} s; messages are counted until {} s after the last target went DOWN. Memory from `/proc/PID/status`, CPU from `/proc/PID/stat` over the storm.\n",
            thousands(r.targets as u64),
            r.interval_s,
            r.failure_threshold,
            r.groups,
            r.group_wait_s,
            r.group_wait_s + 10
        );
        let _ = writeln!(
            s,
            "| endpoints failed within | first / all DOWN after | alert messages | targets they list | last message after | RSS before / after / peak | CPU-s over the storm |\n|---:|---|---:|---:|---:|---|---:|"
        );
        let _ = writeln!(
            s,
            "| {:.2} s | {:.1} s / {:.1} s | {} | {} | {} | {:.0} / {:.0} / {:.0} MiB | {:.2} |",
            r.fail_spread_s,
            r.first_down_s,
            r.all_down_s,
            r.messages,
            thousands(r.targets_named as u64),
            r.last_message_s.map_or("–".into(), |t| format!("{t:.1} s")),
            r.rss_before_mb,
            r.rss_after_mb,
            r.peak_rss_mb,
            r.cpu_s
        );
    }

    fn sweep_table(&self, s: &mut String) {
        let _ = writeln!(s, "\n#### ICMP sweep (scenario 2)\n");
        let _ = writeln!(
            s,
            "Echo requests to addresses in 127.0.0.0/8, paced as fping's `-i` (between requests) and `-p` (between two requests to one address), the last reply waited for 500 ms. CPU is user + system time of the sweeping process: commwatch's ICMP probe in a worker process (`/proc/PID/stat`), fping from `wait4`. Wall time and CPU are medians of the runs; replies are totals over them.\n"
        );
        let _ = writeln!(
            s,
            "| addresses × echoes | interval / period | runs | commwatch wall | fping wall | commwatch CPU-s | fping CPU-s | commwatch ÷ fping (CPU) | replies (cw / fping) | commwatch peak RSS |\n|---|---|---:|---:|---:|---:|---:|---:|---|---:|"
        );
        for r in &self.sweep {
            let sh = &r.shape;
            let (fw, fc, ratio, frep) = match &r.fping {
                Some(f) => (
                    format!("{:.2} s", f.wall_s),
                    format!("{:.3}", f.cpu_s),
                    r.cpu_ratio.map_or("–".into(), |x| format!("{x:.2}")),
                    format!("{}/{}", thousands(f.received), thousands(f.sent)),
                ),
                None => ("not installed".into(), "–".into(), "–".into(), "–".into()),
            };
            let _ = writeln!(
                s,
                "| {} × {} | {} ms / {} ms | {} | {:.2} s | {fw} | {:.3} | {fc} | {ratio} | {}/{} / {frep} | {:.0} MiB |",
                thousands(u64::from(sh.hosts)),
                sh.count,
                sh.interval_ms,
                sh.period_ms,
                r.runs,
                r.commwatch.wall_s,
                r.commwatch.cpu_s,
                thousands(r.commwatch.received),
                thousands(r.commwatch.sent),
                r.commwatch_peak_rss_mb,
            );
        }
    }
}

pub const BEGIN: &str = "<!-- bench:begin (written by bench/run.sh; do not edit by hand) -->";
pub const END: &str = "<!-- bench:end -->";

/// Replaces the text between the markers of `doc` with `table`.
pub fn update_doc(doc: &Path, table: &str) -> Result<(), BenchError> {
    let text = std::fs::read_to_string(doc).map_err(|e| BenchError::io("reading the doc", e))?;
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        return Err(BenchError::Child(format!(
            "{} lacks the markers {BEGIN} … {END}",
            doc.display()
        )));
    };
    if e < b {
        return Err(BenchError::Child(format!(
            "{}: markers out of order",
            doc.display()
        )));
    }
    let new = format!(
        "{}{BEGIN}\n{table}{END}{}",
        &text[..b],
        &text[e + END.len()..]
    );
    std::fs::write(doc, new).map_err(|e| BenchError::io("writing the doc", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_for_people() {
        assert_eq!(thousands(19_994), "19,994");
        assert_eq!(thousands(999), "999");
        assert_eq!(ms(0.000_62), "0.62 ms");
        assert_eq!(ms(0.25), "250 ms");
        assert_eq!(ms(2.5), "2.50 s");
        assert_eq!(max_le(Some(Some(0.001))), "≤ 1.00 ms");
        assert_eq!(size(3 * 1024 * 1024), "3.0 MiB");
    }

    #[test]
    fn doc_section_is_replaced_between_markers_only() {
        let dir = std::env::temp_dir().join(format!("cw-bench-doc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let doc = dir.join("B.md");
        std::fs::write(&doc, format!("# T\nintro\n{BEGIN}\nold\n{END}\nafter\n")).unwrap();
        update_doc(&doc, "new table\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&doc).unwrap(),
            format!("# T\nintro\n{BEGIN}\nnew table\n{END}\nafter\n")
        );
        std::fs::write(&doc, "no markers").unwrap();
        assert!(update_doc(&doc, "x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
