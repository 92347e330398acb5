//! Just enough of the Prometheus text format to read counters and histograms back from
//! commwatch's `/metrics`, summed over label sets, and to estimate quantiles the way
//! `histogram_quantile` does.

use serde::Serialize;

/// The value at the end of a sample line (`name{...} 12.5` or `name 3`).
fn value(line: &str) -> Option<f64> {
    line.rsplit(' ').next()?.parse().ok()
}

/// Sum of every sample of `name` (all label sets).
pub fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(value)
        .sum()
}

/// Cumulative bucket counts of histogram `name`, summed over label sets, sorted by bound;
/// the last bound is +Inf.
pub fn buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{");
    let mut out: Vec<(f64, f64)> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(&prefix)) {
        let Some(le) = line.split("le=\"").nth(1).and_then(|r| r.split('"').next()) else {
            continue;
        };
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            match le.parse() {
                Ok(v) => v,
                Err(_) => continue,
            }
        };
        let Some(v) = value(line) else { continue };
        match out.iter_mut().find(|(b, _)| *b == le) {
            Some(slot) => slot.1 += v,
            None => out.push((le, v)),
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// `after - before`, bucket by bucket (the observations made in between).
pub fn delta(after: &[(f64, f64)], before: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|(le, v)| {
            let b = before
                .iter()
                .find(|(l, _)| l == le)
                .map_or(0.0, |(_, v)| *v);
            (*le, v - b)
        })
        .collect()
}

/// A quantile read from buckets: linear interpolation inside the bucket, plus the bucket's
/// upper bound so a reader knows the resolution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quantile {
    pub seconds: f64,
    /// The upper bound of the bucket holding the quantile (`None`: beyond the last bound).
    pub bucket_le: Option<f64>,
}

pub fn quantile(b: &[(f64, f64)], q: f64) -> Option<Quantile> {
    let total = b.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev_le = 0.0;
    let mut prev_count = 0.0;
    for &(le, count) in b {
        if count >= rank {
            if le.is_infinite() {
                return Some(Quantile {
                    seconds: prev_le,
                    bucket_le: None,
                });
            }
            let in_bucket = count - prev_count;
            let frac = if in_bucket > 0.0 {
                (rank - prev_count) / in_bucket
            } else {
                1.0
            };
            return Some(Quantile {
                seconds: prev_le + (le - prev_le) * frac,
                bucket_le: Some(le),
            });
        }
        prev_le = le;
        prev_count = count;
    }
    None
}

/// The upper bound of the highest bucket that gained observations: the maximum is at most
/// this (`None`: something landed beyond the last finite bound).
pub fn max_bound(b: &[(f64, f64)]) -> Option<Option<f64>> {
    let mut prev = 0.0;
    let mut top = None;
    for &(le, count) in b {
        if count > prev {
            top = Some(if le.is_finite() { Some(le) } else { None });
        }
        prev = count;
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP x_seconds help\n\
x_seconds_bucket{kind=\"http\",le=\"0.001\"} 90\n\
x_seconds_bucket{kind=\"http\",le=\"0.01\"} 99\n\
x_seconds_bucket{kind=\"http\",le=\"+Inf\"} 100\n\
x_seconds_bucket{kind=\"tcp\",le=\"0.001\"} 0\n\
x_seconds_bucket{kind=\"tcp\",le=\"0.01\"} 0\n\
x_seconds_bucket{kind=\"tcp\",le=\"+Inf\"} 0\n\
x_seconds_sum{kind=\"http\"} 1\n\
probes_total{result=\"success\"} 7\n\
probes_total{result=\"failure\"} 3\n\
probes_total_other 100\n";

    #[test]
    fn sums_and_quantiles() {
        assert_eq!(sum(TEXT, "probes_total"), 10.0);
        let b = buckets(TEXT, "x_seconds");
        assert_eq!(b, vec![(0.001, 90.0), (0.01, 99.0), (f64::INFINITY, 100.0)]);
        let p50 = quantile(&b, 0.5).unwrap();
        assert!((p50.seconds - 0.001 * 50.0 / 90.0).abs() < 1e-12);
        assert_eq!(p50.bucket_le, Some(0.001));
        assert_eq!(quantile(&b, 0.99).unwrap().bucket_le, Some(0.01));
        assert_eq!(quantile(&b, 1.0).unwrap().bucket_le, None);
        assert_eq!(max_bound(&b), Some(None));
        let d = delta(&b, &[(0.001, 90.0), (0.01, 90.0), (f64::INFINITY, 90.0)]);
        assert_eq!(d[0].1, 0.0);
        assert_eq!(max_bound(&d[..2]), Some(Some(0.01)));
        assert_eq!(quantile(&[(1.0, 0.0), (f64::INFINITY, 0.0)], 0.5), None);
    }
}
