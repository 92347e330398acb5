//! Every string the status pages show, in Vietnamese (the default) and English, with the
//! relative-time and duration phrasing of each. Pages and the browser script take their words
//! from here only, so a missing translation is a compile error rather than a mixed page.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::state::State;

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
        };
        // Serialising a struct of strings cannot fail.
        serde_json::to_string(&v).unwrap_or_default()
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

/// All page text of one language.
pub struct Strings {
    pub app_title: &'static str,
    pub nav_overview: &'static str,
    pub nav_incidents: &'static str,
    pub nav_groups: &'static str,
    pub lang_switch: &'static str,
    pub zone_note: &'static str,
    pub updated_at: &'static str,
    pub live: &'static str,
    pub reconnecting: &'static str,
    pub no_script_note: &'static str,
    pub isolated: &'static str,

    pub st_up: &'static str,
    pub st_degraded: &'static str,
    pub st_down: &'static str,
    pub st_unreachable: &'static str,
    pub st_unknown: &'static str,
    pub st_maintenance: &'static str,

    pub summary: &'static str,
    pub targets_word: &'static str,
    pub targets_title: &'static str,
    pub communes_word: &'static str,
    pub communes_dark: &'static str,
    pub commune_col: &'static str,
    pub province: &'static str,
    pub filters: &'static str,
    pub all: &'static str,
    pub operator: &'static str,
    pub service: &'static str,
    pub state: &'static str,
    pub problems: &'static str,
    pub search_commune: &'static str,
    pub search_hint: &'static str,
    pub apply: &'static str,
    pub reset: &'static str,
    pub sort: &'static str,
    pub sort_worst: &'static str,
    pub sort_name: &'static str,
    pub columns: &'static str,
    pub page: &'static str,
    pub prev: &'static str,
    pub next: &'static str,
    pub no_targets: &'static str,
    pub no_match: &'static str,
    pub showing: &'static str,
    pub of: &'static str,
    pub by_province: &'static str,
    pub dark_badge: &'static str,
    pub no_commune: &'static str,
    pub no_province: &'static str,
    pub other: &'static str,
    pub checked: &'static str,
    pub never_checked: &'static str,
    pub since: &'static str,
    pub drills_title: &'static str,

    pub incidents_open: &'static str,
    pub incidents: &'static str,
    pub no_open_incidents: &'static str,
    pub no_incidents: &'static str,
    pub see_all: &'static str,
    pub started: &'static str,
    pub ended: &'static str,
    pub duration: &'static str,
    pub cause: &'static str,
    pub target: &'static str,
    pub acked_by: &'static str,
    pub not_acked: &'static str,
    pub open: &'static str,
    pub closed: &'static str,
    pub explained_by: &'static str,
    pub status: &'static str,
    pub ack_howto: &'static str,

    pub facts: &'static str,
    pub id: &'static str,
    pub kind: &'static str,
    pub endpoint: &'static str,
    pub commune: &'static str,
    pub tags: &'static str,
    pub depends_on: &'static str,
    pub interval: &'static str,
    pub timeout: &'static str,
    pub thresholds: &'static str,
    pub thresholds_note: &'static str,
    pub last_result: &'static str,
    pub latency: &'static str,
    pub error: &'static str,
    pub failing_checks: &'static str,
    pub uptime: &'static str,
    pub windows: [&'static str; 4],
    pub daily_strip: &'static str,
    pub no_data: &'static str,
    pub chart_title: &'static str,
    pub chart_latency: &'static str,
    pub chart_failures: &'static str,
    pub chart_loss: &'static str,
    pub chart_max: &'static str,
    pub recent_samples: &'static str,
    pub time: &'static str,
    pub result: &'static str,
    pub ok: &'static str,
    pub failed: &'static str,
    pub flapping: &'static str,
    pub not_found: &'static str,

    pub groups: &'static str,
    pub group_by: [&'static str; 4],
    pub availability: &'static str,
    pub range: &'static str,
    pub samples: &'static str,
    pub down_now: &'static str,
    pub group_key: &'static str,

    pub login_title: &'static str,
    pub login_token: &'static str,
    pub login_submit: &'static str,
    pub login_failed: &'static str,
    pub login_note: &'static str,
}

pub static VI: Strings = Strings {
    app_title: "Trạng thái liên lạc",
    nav_overview: "Tổng quan",
    nav_incidents: "Sự cố",
    nav_groups: "Nhóm",
    lang_switch: "English",
    zone_note: "Giờ Việt Nam (Asia/Ho_Chi_Minh, UTC+07)",
    updated_at: "Cập nhật lúc",
    live: "● Trực tiếp",
    reconnecting: "Mất kết nối — đang kết nối lại…",
    no_script_note: "Trang tự tải lại mỗi 30 giây.",
    isolated: "Máy giám sát có thể đang mất kết nối: mọi mốc tham chiếu đều lỗi, các lỗi mới được ghi là “chưa rõ”.",

    st_up: "Hoạt động",
    st_degraded: "Suy giảm",
    st_down: "Mất liên lạc",
    st_unreachable: "Không tới được",
    st_unknown: "Chưa rõ",
    st_maintenance: "Bảo trì",

    summary: "Tổng hợp",
    targets_word: "mục tiêu",
    targets_title: "Mục tiêu",
    communes_word: "xã",
    communes_dark: "xã mất liên lạc hoàn toàn",
    commune_col: "Xã / phường",
    province: "Tỉnh",
    filters: "Bộ lọc",
    all: "Tất cả",
    operator: "Nhà mạng",
    service: "Dịch vụ",
    state: "Trạng thái",
    problems: "Có sự cố",
    search_commune: "Tìm xã",
    search_hint: "có dấu hoặc không dấu",
    apply: "Lọc",
    reset: "Bỏ lọc",
    sort: "Sắp xếp",
    sort_worst: "Tệ nhất trước",
    sort_name: "Theo tên",
    columns: "Cột",
    page: "Trang",
    prev: "‹ Trang trước",
    next: "Trang sau ›",
    no_targets: "Chưa cấu hình mục tiêu nào.",
    no_match: "Không có xã nào khớp bộ lọc.",
    showing: "Hiển thị",
    of: "trên",
    by_province: "Theo tỉnh",
    dark_badge: "Mất hết",
    no_commune: "(chưa gán xã)",
    no_province: "(chưa gán tỉnh)",
    other: "(khác)",
    checked: "kiểm tra",
    never_checked: "chưa kiểm tra",
    since: "từ",
    drills_title: "Diễn tập đang chạy",

    incidents_open: "Sự cố đang mở",
    incidents: "Sự cố",
    no_open_incidents: "Không có sự cố đang mở.",
    no_incidents: "Không có sự cố.",
    see_all: "Xem tất cả",
    started: "Bắt đầu",
    ended: "Kết thúc",
    duration: "Thời lượng",
    cause: "Nguyên nhân",
    target: "Mục tiêu",
    acked_by: "Đã nhận",
    not_acked: "Chưa ai nhận",
    open: "Đang mở",
    closed: "Đã đóng",
    explained_by: "do",
    status: "Tình trạng",
    ack_howto: "Nhận sự cố: POST /api/v1/incidents/{id}/ack với mã của trực ban.",

    facts: "Thông tin",
    id: "Mã",
    kind: "Loại kiểm tra",
    endpoint: "Điểm đo",
    commune: "Xã",
    tags: "Nhãn",
    depends_on: "Phụ thuộc",
    interval: "Chu kỳ",
    timeout: "Thời gian chờ",
    thresholds: "Ngưỡng",
    thresholds_note: "lỗi liên tiếp để báo mất / đạt liên tiếp để báo phục hồi",
    last_result: "Kết quả gần nhất",
    latency: "Độ trễ",
    error: "Lỗi",
    failing_checks: "Kiểm tra không đạt",
    uptime: "Tỉ lệ hoạt động",
    windows: ["24 giờ", "7 ngày", "30 ngày", "90 ngày"],
    daily_strip: "90 ngày gần nhất, mỗi cột một ngày",
    no_data: "không có dữ liệu",
    chart_title: "Độ trễ và lỗi",
    chart_latency: "độ trễ trung bình",
    chart_failures: "tỉ lệ lỗi",
    chart_loss: "mất gói",
    chart_max: "cao nhất",
    recent_samples: "Mẫu đo gần nhất",
    time: "Thời điểm",
    result: "Kết quả",
    ok: "Đạt",
    failed: "Lỗi",
    flapping: "Chập chờn",
    not_found: "Không tìm thấy",

    groups: "Nhóm",
    group_by: ["Theo nhà mạng", "Theo dịch vụ", "Theo tỉnh", "Theo xã"],
    availability: "Tỉ lệ hoạt động",
    range: "Khoảng thời gian",
    samples: "mẫu",
    down_now: "đang mất",
    group_key: "Nhóm",

    login_title: "Đăng nhập",
    login_token: "Mã truy cập",
    login_submit: "Vào",
    login_failed: "Mã không đúng.",
    login_note: "Trang trạng thái này không công khai. Nhập mã (token) được cấp cho ca trực.",
};

pub static EN: Strings = Strings {
    app_title: "Communications status",
    nav_overview: "Overview",
    nav_incidents: "Incidents",
    nav_groups: "Groups",
    lang_switch: "Tiếng Việt",
    zone_note: "Vietnam time (Asia/Ho_Chi_Minh, UTC+07)",
    updated_at: "Updated",
    live: "● Live",
    reconnecting: "Connection lost — reconnecting…",
    no_script_note: "This page reloads every 30 seconds.",
    isolated: "The monitor may have lost its own link: every anchor target is failing, so new failures are recorded as “unknown”.",

    st_up: "Up",
    st_degraded: "Degraded",
    st_down: "Down",
    st_unreachable: "Unreachable",
    st_unknown: "Unknown",
    st_maintenance: "Maintenance",

    summary: "Summary",
    targets_word: "targets",
    targets_title: "Targets",
    communes_word: "communes",
    communes_dark: "communes fully dark",
    commune_col: "Commune / ward",
    province: "Province",
    filters: "Filters",
    all: "All",
    operator: "Operator",
    service: "Service",
    state: "State",
    problems: "Problems",
    search_commune: "Find commune",
    search_hint: "with or without diacritics",
    apply: "Apply",
    reset: "Clear",
    sort: "Sort",
    sort_worst: "Worst first",
    sort_name: "By name",
    columns: "Columns",
    page: "Page",
    prev: "‹ Previous",
    next: "Next ›",
    no_targets: "No targets configured.",
    no_match: "No commune matches the filters.",
    showing: "Showing",
    of: "of",
    by_province: "By province",
    dark_badge: "All down",
    no_commune: "(no commune)",
    no_province: "(no province)",
    other: "(other)",
    checked: "checked",
    never_checked: "not checked yet",
    since: "since",
    drills_title: "Active drills",

    incidents_open: "Open incidents",
    incidents: "Incidents",
    no_open_incidents: "No open incidents.",
    no_incidents: "No incidents.",
    see_all: "See all",
    started: "Started",
    ended: "Ended",
    duration: "Duration",
    cause: "Cause",
    target: "Target",
    acked_by: "Acknowledged",
    not_acked: "Not acknowledged",
    open: "Open",
    closed: "Closed",
    explained_by: "because of",
    status: "Status",
    ack_howto: "Acknowledge: POST /api/v1/incidents/{id}/ack with an officer token.",

    facts: "Facts",
    id: "Id",
    kind: "Check kind",
    endpoint: "Endpoint",
    commune: "Commune",
    tags: "Tags",
    depends_on: "Depends on",
    interval: "Interval",
    timeout: "Timeout",
    thresholds: "Thresholds",
    thresholds_note: "failures in a row to go down / successes in a row to recover",
    last_result: "Last result",
    latency: "Latency",
    error: "Error",
    failing_checks: "Failing checks",
    uptime: "Uptime",
    windows: ["24 h", "7 days", "30 days", "90 days"],
    daily_strip: "Last 90 days, one bar per day",
    no_data: "no data",
    chart_title: "Latency and failures",
    chart_latency: "average latency",
    chart_failures: "failure ratio",
    chart_loss: "packet loss",
    chart_max: "max",
    recent_samples: "Recent samples",
    time: "Time",
    result: "Result",
    ok: "OK",
    failed: "Failed",
    flapping: "Flapping",
    not_found: "Not found",

    groups: "Groups",
    group_by: ["By operator", "By service", "By province", "By commune"],
    availability: "Availability",
    range: "Range",
    samples: "samples",
    down_now: "down now",
    group_key: "Group",

    login_title: "Sign in",
    login_token: "Access token",
    login_submit: "Sign in",
    login_failed: "That token is not valid.",
    login_note: "This status page is private. Enter the token issued to your shift.",
};

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
}
