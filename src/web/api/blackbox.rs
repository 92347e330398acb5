//! `/probe?target=ID&module=KIND`: blackbox_exporter-style metrics for an existing Prometheus
//! setup. Only targets in the configuration can be probed (never an address from the request,
//! so the endpoint cannot be turned against other hosts), and the timeout follows Prometheus'
//! `X-Prometheus-Scrape-Timeout-Seconds`.

use std::fmt::Write;
use std::time::Duration;

use warp::Reply;

use crate::probe::Observation;
use crate::shared::AppState;
use crate::web::error::{ApiError, reject};

/// Left for Prometheus to receive the answer, as blackbox_exporter does.
const TIMEOUT_MARGIN: Duration = Duration::from_millis(500);

fn gauge(out: &mut String, name: &str, help: &str, samples: &[(Option<(&str, &str)>, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (label, v) in samples {
        match label {
            Some((k, lv)) => {
                let _ = writeln!(out, "{name}{{{k}=\"{lv}\"}} {v}");
            }
            None => {
                let _ = writeln!(out, "{name} {v}");
            }
        }
    }
}

/// The exposition for one probe run, with blackbox_exporter's metric names.
pub fn render(obs: &Observation, ok: bool) -> String {
    let mut out = String::new();
    gauge(
        &mut out,
        "probe_success",
        "Displays whether or not the probe was a success",
        &[(None, f64::from(u8::from(ok)))],
    );
    gauge(
        &mut out,
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds",
        &[(None, obs.duration.as_secs_f64())],
    );
    if let Some(d) = obs.phases.dns {
        gauge(
            &mut out,
            "probe_dns_lookup_time_seconds",
            "Returns the time taken for probe dns lookup in seconds",
            &[(None, d.as_secs_f64())],
        );
    }
    if obs.kind == "http" {
        let phases = [
            ("resolve", obs.phases.dns),
            ("connect", obs.phases.connect),
            ("tls", obs.phases.tls),
            ("processing", obs.phases.first_byte),
            ("transfer", obs.phases.transfer),
        ];
        let samples: Vec<(Option<(&str, &str)>, f64)> = phases
            .iter()
            .map(|(p, d)| (Some(("phase", *p)), d.map_or(0.0, |d| d.as_secs_f64())))
            .collect();
        gauge(
            &mut out,
            "probe_http_duration_seconds",
            "Duration of http request by phase, summed over all redirects",
            &samples,
        );
        gauge(
            &mut out,
            "probe_http_status_code",
            "Response HTTP status code",
            &[(None, f64::from(obs.facts.http_status.unwrap_or(0)))],
        );
    }
    if let Some(i) = &obs.facts.icmp {
        if let Some(rtt) = i.rtt_avg {
            gauge(
                &mut out,
                "probe_icmp_duration_seconds",
                "Duration of icmp request by phase",
                &[(Some(("phase", "rtt")), rtt.as_secs_f64())],
            );
        }
        gauge(
            &mut out,
            "probe_icmp_packet_loss_ratio",
            "Share of echo requests without reply (commwatch)",
            &[(None, i.loss)],
        );
    }
    if let Some(t) = &obs.facts.tls {
        gauge(
            &mut out,
            "probe_ssl_earliest_cert_expiry",
            "Returns last SSL chain expiry in unixtime",
            &[(None, t.earliest_expiry.timestamp() as f64)],
        );
    }
    out
}

pub async fn probe(
    q: std::collections::HashMap<String, String>,
    scrape_timeout: Option<String>,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let Some(id) = q.get("target") else {
        return Err(reject(ApiError::bad_request(
            "invalid_query",
            "`target` (a configured target id) is required",
        )));
    };
    let cfg = state.config();
    let Some(t) = cfg.target(id) else {
        return Err(reject(ApiError::not_found(format!(
            "no configured target `{id}`; /probe only probes targets in the configuration"
        ))));
    };
    if let Some(m) = q.get("module")
        && m != t.kind()
    {
        return Err(reject(ApiError::bad_request(
            "module_mismatch",
            format!("target `{id}` is a {} target, not `{m}`", t.kind()),
        )));
    }
    let mut timeout = t.timeout;
    if let Some(h) = scrape_timeout {
        let secs: f64 = h.trim().parse().map_err(|_| {
            reject(ApiError::bad_request(
                "invalid_header",
                "X-Prometheus-Scrape-Timeout-Seconds must be a number",
            ))
        })?;
        if !(secs.is_finite() && secs > 0.0) {
            return Err(reject(ApiError::bad_request(
                "invalid_header",
                "X-Prometheus-Scrape-Timeout-Seconds must be positive",
            )));
        }
        let budget = Duration::from_secs_f64(secs.min(3_600.0)).saturating_sub(TIMEOUT_MARGIN);
        timeout = timeout.min(budget.max(Duration::from_millis(100)));
    }
    let obs = state
        .prober
        .run_on_demand(&t.spec, timeout, t.source_address)
        .await;
    let sample = t.judge(&obs);
    let body = render(&obs, sample.ok);
    Ok(warp::reply::with_header(
        body,
        "content-type",
        "text/plain; version=0.0.4; charset=utf-8",
    )
    .into_response())
}
