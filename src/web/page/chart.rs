//! Charts drawn on the server as inline SVG: no chart library, no script, and they print.
//! Colours come from CSS classes (so dark mode and print work); every chart also carries its
//! numbers as text, so nothing is told by colour alone.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::store::Bucket;
use crate::time;
use crate::web::page::i18n::Lang;

/// Drawing area of the latency chart, in SVG user units.
const W: f64 = 640.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 632.0;
const TOP: f64 = 8.0;
const LAT_BOTTOM: f64 = 128.0;
const FAIL_TOP: f64 = 138.0;
const FAIL_BOTTOM: f64 = 160.0;
const H: f64 = 178.0;

/// One column of the chart: buckets merged into a bin.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bin {
    pub count: u64,
    pub ok: u64,
    /// Sum of average latency × ok, to average bins weighted by successful probes.
    lat_weighted: f64,
    pub lat_max: Option<f64>,
    loss_sum: f64,
    loss_n: u64,
}

impl Bin {
    pub fn latency_avg(&self) -> Option<f64> {
        (self.ok > 0).then(|| self.lat_weighted / self.ok as f64)
    }

    /// Packet loss when the probe measures it, else the share of failed probes.
    pub fn bad_ratio(&self) -> Option<f64> {
        if self.loss_n > 0 {
            Some(self.loss_sum / self.loss_n as f64)
        } else {
            (self.count > 0).then(|| (self.count - self.ok) as f64 / self.count as f64)
        }
    }
}

/// Merges `buckets` into `n` equal bins over `[from, to)`.
pub fn bin(buckets: &[Bucket], from: DateTime<Utc>, to: DateTime<Utc>, n: usize) -> Vec<Bin> {
    let mut bins = vec![Bin::default(); n.max(1)];
    let span = (to - from).num_milliseconds().max(1) as f64;
    for b in buckets {
        let x = (b.at - from).num_milliseconds() as f64 / span;
        if !(0.0..1.0).contains(&x) {
            continue;
        }
        let i = ((x * bins.len() as f64) as usize).min(bins.len() - 1);
        let a = &b.availability;
        let bin = &mut bins[i];
        bin.count += a.count;
        bin.ok += a.ok;
        if let Some(l) = a.latency_avg_seconds {
            bin.lat_weighted += l * a.ok as f64;
        }
        bin.lat_max = match (bin.lat_max, a.latency_max_seconds) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        if let Some(l) = a.loss_avg {
            bin.loss_sum += l;
            bin.loss_n += 1;
        }
    }
    bins
}

/// The smallest 1-2-5 step at or above `v` (milliseconds), so the axis reads in round numbers.
fn nice_ceiling(v: f64) -> f64 {
    let mut base = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if base * m >= v {
                return base * m;
            }
        }
        base *= 10.0;
    }
}

fn ms_label(v: f64) -> String {
    if v >= 1_000.0 {
        format!("{} s", v / 1_000.0)
    } else {
        format!("{v} ms")
    }
}

fn tick_label(t: DateTime<Utc>, span_days: i64) -> String {
    if span_days <= 2 {
        time::local_time(t)[..5].to_string()
    } else {
        time::local_day_month(t)
    }
}

/// Average latency (line) over failures or loss (bars) for one target over `[from, to)`.
pub fn latency_chart(
    lang: Lang,
    buckets: &[Bucket],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Markup {
    let t = lang.t();
    let bins = bin(buckets, from, to, 144);
    let lat_ms: Vec<Option<f64>> = bins
        .iter()
        .map(|b| b.latency_avg().map(|s| s * 1e3))
        .collect();
    let peak = lat_ms.iter().flatten().fold(0.0_f64, |a, b| a.max(*b));
    let top = nice_ceiling(peak.max(1.0));
    let step = (RIGHT - LEFT) / bins.len() as f64;
    let y = |v: f64| LAT_BOTTOM - (v / top) * (LAT_BOTTOM - TOP);

    // The line breaks where there was no successful probe: a gap is not a latency. A lone
    // point gets a tiny stroke so the round cap shows it as a dot.
    let mut path = String::new();
    let mut run = 0;
    for (i, v) in lat_ms.iter().enumerate() {
        match v {
            Some(v) => {
                let x = LEFT + step * (i as f64 + 0.5);
                path.push_str(&format!(
                    "{}{:.1} {:.1} ",
                    if run == 0 { "M" } else { "L" },
                    x,
                    y(*v)
                ));
                run += 1;
            }
            None => {
                if run == 1 {
                    path.push_str("h0.5 ");
                }
                run = 0;
            }
        }
    }
    if run == 1 {
        path.push_str("h0.5 ");
    }
    let uses_loss = bins.iter().any(|b| b.loss_n > 0);
    let bad_label = if uses_loss {
        t.chart_loss
    } else {
        t.chart_failures
    };
    let total_count: u64 = bins.iter().map(|b| b.count).sum();
    let total_ok: u64 = bins.iter().map(|b| b.ok).sum();
    let avg = {
        let w: f64 = bins.iter().map(|b| b.lat_weighted).sum();
        (total_ok > 0).then(|| w / total_ok as f64 * 1e3)
    };
    let bad = (total_count > 0).then(|| (total_count - total_ok) as f64 / total_count as f64);
    let span_days = (to - from).num_days();
    let ticks = 4;
    let describe = format!(
        "{}: {} {}, {} {}; {}: {}",
        t.chart_title,
        t.chart_latency,
        avg.map(|v| format!("{v:.0} ms"))
            .unwrap_or_else(|| t.no_data.into()),
        t.chart_max,
        ms_label(peak.round()),
        bad_label,
        lang.percent(bad),
    );
    html! {
        figure.chart.wrap {
            svg viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(describe) {
                title { (describe) }
                @for k in 0..=2 {
                    @let v = top * k as f64 / 2.0;
                    line.gl x1=(LEFT) x2=(RIGHT) y1=(y(v)) y2=(y(v)) {}
                    text.axis x=(LEFT - 4.0) y=(y(v) + 3.0) text-anchor="end" { (ms_label(v)) }
                }
                line.gl x1=(LEFT) x2=(RIGHT) y1=(FAIL_BOTTOM) y2=(FAIL_BOTTOM) {}
                text.axis x=(LEFT - 4.0) y=(FAIL_BOTTOM) text-anchor="end" { "100%" }
                @for (i, b) in bins.iter().enumerate() {
                    @if let Some(r) = b.bad_ratio().filter(|r| *r > 0.0) {
                        @let h = (FAIL_BOTTOM - FAIL_TOP) * r.min(1.0);
                        rect.bad x=(format!("{:.1}", LEFT + step * i as f64)) y=(format!("{:.1}", FAIL_BOTTOM - h))
                            width=(format!("{:.2}", step.max(1.0))) height=(format!("{h:.1}")) {}
                    }
                }
                path.lat d=(path) {}
                @for k in 0..=ticks {
                    @let x = LEFT + (RIGHT - LEFT) * k as f64 / ticks as f64;
                    @let at = from + (to - from) * k / ticks;
                    text.axis x=(x) y=(H - 4.0)
                        text-anchor=(if k == 0 { "start" } else if k == ticks { "end" } else { "middle" }) {
                        (tick_label(at, span_days))
                    }
                }
            }
            figcaption.muted {
                span.key-lat { "━ " } (t.chart_latency) ": "
                strong { (avg.map(|v| format!("{v:.0} ms")).unwrap_or_else(|| t.no_data.into())) }
                " (" (t.chart_max) " " (ms_label(peak.round())) ") · "
                span.key-bad { "▮ " } (bad_label) ": " strong { (lang.percent(bad)) }
                " · " (time::ZONE_NAME)
            }
        }
    }
}

/// Class of an availability ratio, for colour; the number is always printed next to it.
fn ratio_class(r: Option<f64>) -> &'static str {
    match r {
        None => "u-none",
        Some(r) if r >= 0.999 => "u-good",
        Some(r) if r >= 0.99 => "u-warn",
        Some(_) => "u-bad",
    }
}

/// A horizontal bar filled to `ratio`, with the percentage beside it.
pub fn uptime_bar(lang: Lang, ratio: Option<f64>) -> Markup {
    let w = ratio.unwrap_or(0.0).clamp(0.0, 1.0) * 100.0;
    html! {
        svg.ubar viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true" {
            rect.track x="0" y="0" width="100" height="6" {}
            rect class=(ratio_class(ratio)) x="0" y="0" width=(format!("{w:.2}")) height="6" {}
        }
        " " span.pct { (lang.percent(ratio)) }
    }
}

/// One bar per local day, oldest left; each bar's tooltip holds the day and its percentage.
pub fn daily_strip(
    lang: Lang,
    buckets: &[Bucket],
    first_day: DateTime<Utc>,
    days: usize,
) -> Markup {
    let mut ratios: Vec<Option<f64>> = vec![None; days];
    for b in buckets {
        let i = (b.at - first_day).num_days();
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| ratios.get_mut(i)) {
            *slot = b.availability.ratio;
        }
    }
    html! {
        svg.strip viewBox={ "0 0 " (days * 4) " 24" } preserveAspectRatio="none" role="img"
            aria-label=(lang.t().daily_strip) {
            @for (i, r) in ratios.iter().enumerate() {
                @let day = first_day + chrono::Duration::days(i as i64);
                rect class=(ratio_class(*r)) x=(i * 4) y="0" width="3" height="24" {
                    title { (time::local_date(day)) ": " (lang.percent(*r)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Availability;

    fn bucket(at: DateTime<Utc>, count: u64, ok: u64, lat: f64) -> Bucket {
        Bucket {
            at,
            availability: Availability {
                count,
                ok,
                ratio: Some(ok as f64 / count as f64),
                latency_avg_seconds: (ok > 0).then_some(lat),
                latency_max_seconds: (ok > 0).then_some(lat * 2.0),
                ..Availability::default()
            },
        }
    }

    #[test]
    fn bins_weight_latency_by_successes() {
        let from = crate::time::now_ms() - chrono::Duration::hours(1);
        let to = from + chrono::Duration::hours(1);
        let b = [
            bucket(from, 10, 10, 0.010),
            bucket(from + chrono::Duration::minutes(1), 10, 0, 0.0),
            bucket(from + chrono::Duration::minutes(2), 10, 5, 0.040),
            // Outside the range: ignored.
            bucket(to, 10, 10, 9.0),
        ];
        let bins = bin(&b, from, to, 1);
        assert_eq!(bins[0].count, 30);
        assert_eq!(bins[0].ok, 15);
        let avg = bins[0].latency_avg().unwrap();
        assert!((avg - 0.020).abs() < 1e-9, "{avg}");
        assert!((bins[0].bad_ratio().unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(bins[0].lat_max, Some(0.08));
    }

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(nice_ceiling(0.4), 1.0);
        assert_eq!(nice_ceiling(13.0), 20.0);
        assert_eq!(nice_ceiling(240.0), 500.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
    }

    #[test]
    fn chart_breaks_the_line_at_gaps_and_prints_its_numbers() {
        let from = crate::time::now_ms() - chrono::Duration::hours(24);
        let to = from + chrono::Duration::hours(24);
        let b = [
            bucket(from, 60, 60, 0.012),
            bucket(from + chrono::Duration::hours(12), 60, 30, 0.050),
        ];
        let svg = latency_chart(Lang::En, &b, from, to).into_string();
        // Two separate runs: two "M" commands, no "L" joining them across the gap.
        let d = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert!(!d.contains('L'), "{d}");
        assert!(svg.contains("failure ratio: <strong>25.0%"), "{svg}");
        assert!(svg.contains("<title>"));
        let empty = latency_chart(Lang::Vi, &[], from, to).into_string();
        assert!(empty.contains("không có dữ liệu"));
    }
}
