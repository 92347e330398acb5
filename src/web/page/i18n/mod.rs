//! Every string the status pages show, in Vietnamese (the default) and English, with the
//! relative-time and duration phrasing of each. Pages and the browser script take their words
//! from here only, so a missing translation is a compile error rather than a mixed page.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::drills::Timing;
use crate::drill::service::{DrillError, Invalid, MAX_TEXT_CHARS};
use crate::state::State;
use crate::store::acks::MAX_COMMENT_CHARS;
use crate::web::view::ack::AckError;
use crate::web::view::drills::RequestError;

mod drills;
mod forms;
mod pages;

pub use drills::{DRILL_EN, DRILL_VI, DrillStrings};
pub use forms::{FORM_EN, FORM_VI, FormStrings};
pub use pages::{EN, Strings, VI};

/// The page language. Vietnamese unless the reader chose English (`?lang=en`, kept in a cookie).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Vi,
    En,
}

/// The cookie that remembers the choice.
pub const COOKIE: &str = "lang";

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language, for the switch link.
    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }

    pub fn t(self) -> &'static Strings {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }

    /// Chooses the language from `?lang=` (which wins and is remembered) or the cookie. The
    /// second value is true when the choice came from the query and should be stored.
    pub fn choose(query: Option<&str>, cookie: Option<&str>) -> (Lang, bool) {
        if let Some(l) = query.and_then(Lang::parse) {
            return (l, true);
        }
        (cookie.and_then(Lang::parse).unwrap_or_default(), false)
    }

    pub fn state(self, s: State) -> &'static str {
        let t = self.t();
        match s {
            State::Up => t.st_up,
            State::Degraded => t.st_degraded,
            State::Down => t.st_down,
            State::Unreachable => t.st_unreachable,
            State::Unknown => t.st_unknown,
            State::Maintenance => t.st_maintenance,
        }
    }

    /// "12 phút trước" / "12 minutes ago".
    pub fn ago(self, t: DateTime<Utc>, now: DateTime<Utc>) -> String {
        let s = (now - t).num_seconds().max(0);
        let (n, unit) = match s {
            0..=59 => (s, 0),
            60..=3_599 => (s / 60, 1),
            3_600..=86_399 => (s / 3_600, 2),
            _ => (s / 86_400, 3),
        };
        match self {
            Lang::Vi => format!("{n} {} trước", ["giây", "phút", "giờ", "ngày"][unit]),
            Lang::En => {
                let w = ["second", "minute", "hour", "day"][unit];
                format!("{n} {w}{} ago", if n == 1 { "" } else { "s" })
            }
        }
    }

    /// A length of time in its two largest units: "2 giờ 5 phút" / "2 h 5 min".
    pub fn duration(self, seconds: f64) -> String {
        let s = seconds.max(0.0) as i64;
        let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
        let units: [&str; 4] = match self {
            Lang::Vi => ["ngày", "giờ", "phút", "giây"],
            Lang::En => ["d", "h", "min", "s"],
        };
        let parts: Vec<String> = [d, h, m, sec]
            .iter()
            .zip(units)
            .skip_while(|(v, _)| **v == 0)
            .take(2)
            .filter(|(v, _)| **v > 0)
            .map(|(v, u)| format!("{v} {u}"))
            .collect();
        if parts.is_empty() {
            format!("0 {}", units[3])
        } else {
            parts.join(" ")
        }
    }

    /// "99,95 %" (Vietnamese decimal comma) / "99.95%"; `None` reads "no data".
    pub fn percent(self, ratio: Option<f64>) -> String {
        let Some(r) = ratio else {
            return self.t().no_data.to_string();
        };
        let v = r * 100.0;
        // Two decimals near 100 %, where the difference between 99.9 and 99.99 matters;
        // truncated so that an incomplete record never reads "100.00".
        let s = if (99.0..100.0).contains(&v) {
            format!("{:.2}", (v * 100.0).floor() / 100.0)
        } else {
            format!("{v:.1}")
        };
        match self {
            Lang::Vi => format!("{} %", s.replace('.', ",")),
            Lang::En => format!("{s}%"),
        }
    }

    /// The words the browser script needs, handed to it as JSON in a `data-` attribute (the
    /// script itself holds no text).
    pub fn script_strings(self) -> String {
        #[derive(Serialize)]
        struct ForScript<'a> {
            lang: &'a str,
            units: [&'a str; 4],
            units_plural: [&'a str; 4],
            ago: &'a str,
            live: &'a str,
            reconnecting: &'a str,
            states: [(&'a str, &'a str); 6],
            icons: [(&'a str, &'a str); 6],
            /// Units of a length of time (days, hours, minutes, seconds), as `duration` writes.
            dur: [&'a str; 4],
        }
        let t = self.t();
        let (units, units_plural, ago) = match self {
            Lang::Vi => (
                ["giây", "phút", "giờ", "ngày"],
                ["giây", "phút", "giờ", "ngày"],
                "{n} {u} trước",
            ),
            Lang::En => (
                ["second", "minute", "hour", "day"],
                ["seconds", "minutes", "hours", "days"],
                "{n} {u} ago",
            ),
        };
        let v = ForScript {
            lang: self.code(),
            units,
            units_plural,
            ago,
            live: t.live,
            reconnecting: t.reconnecting,
            states: State::ALL.map(|s| (s.as_str(), self.state(s))),
            icons: State::ALL.map(|s| (s.as_str(), icon(s))),
            dur: match self {
                Lang::Vi => ["ngày", "giờ", "phút", "giây"],
                Lang::En => ["d", "h", "min", "s"],
            },
        };
        // Serialising a struct of strings cannot fail.
        serde_json::to_string(&v).unwrap_or_default()
    }
}

impl Lang {
    /// The drill pages' words.
    pub fn d(self) -> &'static DrillStrings {
        match self {
            Lang::Vi => &DRILL_VI,
            Lang::En => &DRILL_EN,
        }
    }

    /// A number with `decimals` places, with the language's decimal mark ("12,5" / "12.5").
    pub fn number(self, v: f64, decimals: usize) -> String {
        let s = format!("{v:.decimals$}");
        match self {
            Lang::Vi => s.replace('.', ","),
            Lang::En => s,
        }
    }

    /// Minutes with one decimal, from seconds: "12,5 phút" / "12.5 min".
    pub fn minutes(self, seconds: f64) -> String {
        let unit = match self {
            Lang::Vi => "phút",
            Lang::En => "min",
        };
        format!("{} {unit}", self.number(seconds / 60.0, 1))
    }

    /// A signed difference of two ratios in percentage points: "−3,2 đ%" / "−3.2 pp".
    pub fn points(self, delta: Option<f64>) -> String {
        let Some(d) = delta else {
            return "—".to_string();
        };
        let v = d * 100.0;
        let sign = if v < -0.05 {
            "−"
        } else if v > 0.05 {
            "+"
        } else {
            "±"
        };
        let unit = match self {
            Lang::Vi => "điểm %",
            Lang::En => "pp",
        };
        format!("{sign}{} {unit}", self.number(v.abs(), 1))
    }
}

/// Every state also has a symbol, so it is never told by colour alone.
pub fn icon(s: State) -> &'static str {
    match s {
        State::Up => "✔",
        State::Degraded => "◐",
        State::Down => "✖",
        State::Unreachable => "⤫",
        State::Unknown => "?",
        State::Maintenance => "⚒",
    }
}

/// `template` with its `{name}` slots filled from `args`, in one pass: a value that itself
/// holds `{id}` (typed by a user) is kept as typed.
fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let slot = after.find('}').and_then(|close| {
            args.iter()
                .find(|(k, _)| *k == &after[..close])
                .map(|(_, v)| (close, *v))
        });
        match slot {
            Some((close, v)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl Lang {
    /// The page forms' words.
    pub fn f(self) -> &'static FormStrings {
        match self {
            Lang::Vi => &FORM_VI,
            Lang::En => &FORM_EN,
        }
    }

    /// A request field's name as the forms label it.
    fn field(self, name: &str) -> String {
        let i = match name {
            "duration" => 0,
            "interval" => 1,
            "baseline" => 2,
            "at" => 3,
            "until" => 4,
            // Not a field the forms have: its request name is the clearest thing to show.
            other => return other.to_string(),
        };
        self.f().fields[i].to_string()
    }

    /// Why the drill service refused a form.
    pub fn drill_error(self, e: &DrillError) -> String {
        let f = self.f();
        let id = |template: &str, id: i64| fill(template, &[("id", &id.to_string())]);
        let max = MAX_TEXT_CHARS.to_string();
        match e {
            DrillError::Invalid(i) => match i {
                Invalid::EmptyName => f.name_empty.to_string(),
                Invalid::NameTooLong => f.name_too_long.to_string(),
                Invalid::ScenarioTooLong => fill(f.scenario_too_long, &[("n", &max)]),
                Invalid::Timing(Timing::ZeroDuration) => f.duration_zero.to_string(),
                Invalid::Timing(Timing::DurationTooLong) => f.duration_too_long.to_string(),
                Invalid::Timing(Timing::IntervalTooShort) => f.interval_too_short.to_string(),
                Invalid::EmptyText => f.text_empty.to_string(),
                Invalid::TextTooLong => fill(f.text_too_long, &[("n", &max)]),
                Invalid::UnknownTarget(t) => fill(f.unknown_target, &[("target", t)]),
                Invalid::UntilNotAfterNote => f.until_not_after_note.to_string(),
                Invalid::NoteTooEarly => f.note_too_early.to_string(),
            },
            DrillError::EmptyScope => f.empty_scope.to_string(),
            DrillError::Overlap(d) => id(f.overlap, *d),
            DrillError::NotFound(d) => id(f.drill_not_found, *d),
            DrillError::Ended(d) => id(f.drill_ended, *d),
            DrillError::Store(_) => f.store_failed.to_string(),
        }
    }

    /// Why a drill form could not be read.
    pub fn request_error(self, e: &RequestError) -> String {
        let f = self.f();
        match e {
            RequestError::Scope(detail) => fill(f.bad_scope, &[("detail", detail)]),
            RequestError::Duration { field, value, .. } => fill(
                f.bad_duration,
                &[("field", &self.field(field)), ("value", value)],
            ),
            RequestError::BaselineTooLong => f.baseline_too_long.to_string(),
            RequestError::EmptyLeader => f.empty_leader.to_string(),
            RequestError::Time { field, value } => fill(
                f.bad_time,
                &[("field", &self.field(field)), ("value", value)],
            ),
            RequestError::UntilWithoutTargets => f.until_without_targets.to_string(),
        }
    }

    /// Why an acknowledgement was not recorded.
    pub fn ack_error(self, e: &AckError) -> String {
        let f = self.f();
        match e {
            AckError::NotFound(id) => fill(f.ack_not_found, &[("id", id)]),
            AckError::Closed(id) => fill(f.ack_closed, &[("id", &id.to_string())]),
            AckError::CommentTooLong => {
                fill(f.ack_too_long, &[("n", &MAX_COMMENT_CHARS.to_string())])
            }
            AckError::Store(_) => f.store_failed.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn relative_times_in_both_languages() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 28, 1, 0, 0)
            .single()
            .unwrap();
        let m = |n| t + chrono::Duration::minutes(n);
        assert_eq!(Lang::Vi.ago(t, m(12)), "12 phút trước");
        assert_eq!(Lang::En.ago(t, m(12)), "12 minutes ago");
        assert_eq!(Lang::En.ago(t, m(1)), "1 minute ago");
        assert_eq!(Lang::En.ago(t, m(60 * 49)), "2 days ago");
        assert_eq!(Lang::Vi.ago(t, m(60 * 3)), "3 giờ trước");
        // A clock a little behind never shows a negative age.
        assert_eq!(Lang::Vi.ago(m(1), t), "0 giây trước");
    }

    #[test]
    fn durations_use_two_largest_units() {
        assert_eq!(Lang::Vi.duration(7_500.0), "2 giờ 5 phút");
        assert_eq!(Lang::En.duration(7_500.0), "2 h 5 min");
        assert_eq!(Lang::En.duration(90_061.0), "1 d 1 h");
        assert_eq!(Lang::En.duration(86_400.0 * 3.0), "3 d");
        assert_eq!(Lang::Vi.duration(42.0), "42 giây");
        assert_eq!(Lang::Vi.duration(0.2), "0 giây");
    }

    #[test]
    fn percentages_follow_the_language() {
        assert_eq!(Lang::Vi.percent(Some(0.99954)), "99,95 %");
        assert_eq!(Lang::En.percent(Some(0.99954)), "99.95%");
        assert_eq!(Lang::En.percent(Some(1.0)), "100.0%");
        assert_eq!(Lang::En.percent(Some(0.5)), "50.0%");
        assert_eq!(Lang::Vi.percent(None), "không có dữ liệu");
    }

    #[test]
    fn query_wins_and_is_remembered() {
        assert_eq!(Lang::choose(Some("en"), Some("vi")), (Lang::En, true));
        assert_eq!(Lang::choose(None, Some("en")), (Lang::En, false));
        assert_eq!(Lang::choose(Some("fr"), None), (Lang::Vi, false));
        assert_eq!(Lang::choose(None, None), (Lang::Vi, false));
    }

    #[test]
    fn script_strings_are_json() {
        let v: serde_json::Value = serde_json::from_str(&Lang::En.script_strings()).unwrap();
        assert_eq!(v["lang"], "en");
        assert_eq!(v["states"][2][1], "Down");
    }

    #[test]
    fn form_errors_read_in_the_page_language() {
        let overlap = DrillError::Overlap(7);
        assert_eq!(
            Lang::Vi.drill_error(&overlap),
            "Cuộc diễn tập số 7 đang chạy trên một số mục tiêu trong phạm vi này; hãy dừng cuộc đó hoặc thu hẹp phạm vi."
        );
        assert!(
            Lang::En
                .drill_error(&overlap)
                .starts_with("Drill 7 is already running")
        );
        let bad = RequestError::Duration {
            field: "duration",
            value: "{id} soon".into(),
            reason: "x".into(),
        };
        // The value is kept as typed, its `{id}` included.
        assert_eq!(
            Lang::Vi.request_error(&bad),
            "Thời lượng: “{id} soon” không phải là khoảng thời gian (vd 10s, 30m, 2h, 7d)."
        );
        assert_eq!(
            Lang::En.ack_error(&AckError::Closed(12)),
            "Incident 12 has already ended; there is nothing left to acknowledge."
        );
        assert_eq!(
            Lang::Vi.ack_error(&AckError::CommentTooLong),
            "Ghi chú: tối đa 2000 ký tự."
        );
        let unknown = DrillError::Invalid(Invalid::UnknownTarget("a1".into()));
        assert_eq!(
            Lang::En.drill_error(&unknown),
            "No target “a1” is configured."
        );
        // The API's English text is unchanged by the typing.
        assert_eq!(unknown.to_string(), "expected_down.targets: no target `a1`");
        assert_eq!(
            DrillError::Invalid(Invalid::Timing(Timing::IntervalTooShort)).to_string(),
            "interval: must be at least 1s"
        );
        assert_eq!(fill("{a} {b} {c", &[("a", "1"), ("b", "{a}")]), "1 {a} {c");
    }
}
