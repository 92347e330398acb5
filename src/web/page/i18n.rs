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
    pub ack_submit: &'static str,
    pub ack_also: &'static str,
    pub ack_comment: &'static str,
    pub ack_sign_in: &'static str,

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
    ack_howto: "Trực ban (quyền officer hoặc admin) nhận xử lý sự cố đang mở ngay trên trang này sau khi đăng nhập, kèm ghi chú cho ca sau nếu cần; người khác nhận sau vẫn được ghi thêm. Script dùng POST /api/v1/incidents/{id}/ack với mã của trực ban.",
    ack_submit: "Nhận xử lý",
    ack_also: "Cùng nhận xử lý",
    ack_comment: "Ghi chú cho ca sau (không bắt buộc)",
    ack_sign_in: "Đăng nhập để nhận xử lý",

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
    ack_howto: "Officers (role officer or admin) acknowledge open incidents right here after signing in, with an optional note for the next shift; a second officer may add theirs. Scripts use POST /api/v1/incidents/{id}/ack with an officer token.",
    ack_submit: "Acknowledge",
    ack_also: "Acknowledge too",
    ack_comment: "Note for the next shift (optional)",
    ack_sign_in: "Sign in to acknowledge",

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

/// The drill pages' words (list, banner, report, forms).
pub struct DrillStrings {
    pub nav: &'static str,
    pub title: &'static str,
    pub running: &'static str,
    pub ended: &'static str,
    pub none: &'static str,
    pub banner: &'static str,
    pub elapsed: &'static str,
    pub planned_end: &'static str,
    pub open_report: &'static str,
    pub report_title: &'static str,
    pub scenario: &'static str,
    pub scope: &'static str,
    pub scope_all: &'static str,
    pub leaders: &'static str,
    pub started_by: &'static str,
    pub stopped_by: &'static str,
    pub end_stopped: &'static str,
    pub end_planned: &'static str,
    pub drill_interval: &'static str,
    pub baseline: &'static str,
    pub generated: &'static str,
    pub download: &'static str,
    pub status: &'static str,
    pub summary: &'static str,
    pub targets_in_scope: &'static str,
    pub with_data: &'static str,
    pub overall: &'static str,
    pub before: &'static str,
    pub downtime: &'static str,
    pub downtime_min: &'static str,
    pub outages: &'static str,
    pub outages_word: &'static str,
    pub degraded_min: &'static str,
    pub worst_operator: &'static str,
    pub worst_commune: &'static str,
    pub no_outage: &'static str,
    pub detection: &'static str,
    pub delivery: &'static str,
    pub acknowledgement: &'static str,
    pub restoration: &'static str,
    pub median: &'static str,
    pub max: &'static str,
    pub injected: &'static str,
    pub detected_of: &'static str,
    pub by_target: &'static str,
    pub change: &'static str,
    pub samples_ok: &'static str,
    pub outages_title: &'static str,
    pub no_outages: &'static str,
    pub detected: &'static str,
    pub alerts: &'static str,
    pub acknowledged: &'static str,
    pub restored: &'static str,
    pub not_restored: &'static str,
    pub no_alert: &'static str,
    pub via: &'static str,
    pub pending: &'static str,
    pub dead: &'static str,
    pub degraded_only: &'static str,
    pub before_drill: &'static str,
    pub in_drill: &'static str,
    pub after_start: &'static str,
    pub after_detection: &'static str,
    pub note: &'static str,
    pub expected_until: &'static str,
    pub detected_yes: &'static str,
    pub detected_no: &'static str,
    pub timeline: &'static str,
    pub kinds: [&'static str; 11],
    pub notes: &'static str,
    pub no_notes: &'static str,
    pub author: &'static str,
    pub definitions: &'static str,
    pub definitions_text: [&'static str; 6],
    pub stop: &'static str,
    pub note_title: &'static str,
    pub note_text: &'static str,
    pub note_at: &'static str,
    pub note_expected: &'static str,
    pub note_until: &'static str,
    pub note_submit: &'static str,
    pub start_title: &'static str,
    pub name: &'static str,
    pub scope_hint: &'static str,
    pub leaders_hint: &'static str,
    pub duration: &'static str,
    pub interval: &'static str,
    pub baseline_field: &'static str,
    pub start_submit: &'static str,
    pub login_to_control: &'static str,
    pub csv_sections: [&'static str; 7],
}

pub static DRILL_VI: DrillStrings = DrillStrings {
    nav: "Diễn tập",
    title: "Diễn tập",
    running: "Đang diễn tập",
    ended: "Đã kết thúc",
    none: "Chưa có cuộc diễn tập nào.",
    banner: "DIỄN TẬP",
    elapsed: "đã diễn ra",
    planned_end: "Kết thúc dự kiến",
    open_report: "Xem báo cáo",
    report_title: "Báo cáo sau diễn tập",
    scenario: "Kịch bản",
    scope: "Phạm vi",
    scope_all: "Toàn bộ mục tiêu",
    leaders: "Chỉ huy",
    started_by: "Bắt đầu bởi",
    stopped_by: "Dừng bởi",
    end_stopped: "dừng tay",
    end_planned: "hết giờ dự kiến",
    drill_interval: "Chu kỳ đo khi diễn tập",
    baseline: "Giai đoạn đối chứng",
    generated: "Lập lúc",
    download: "Tải về",
    status: "Tình trạng",
    summary: "Tóm tắt",
    targets_in_scope: "Mục tiêu trong phạm vi",
    with_data: "có số liệu",
    overall: "Tỉ lệ hoạt động chung",
    before: "trước diễn tập",
    downtime: "Tổng thời gian mất liên lạc",
    downtime_min: "Mất (phút)",
    outages: "Số lần mất",
    outages_word: "lần mất",
    degraded_min: "Suy giảm (phút)",
    worst_operator: "Nhà mạng bị ảnh hưởng nặng nhất",
    worst_commune: "Xã bị ảnh hưởng nặng nhất",
    no_outage: "không có lần mất nào",
    detection: "Thời gian phát hiện",
    delivery: "Thời gian cảnh báo tới nơi",
    acknowledgement: "Thời gian nhận xử lý",
    restoration: "Thời gian khôi phục",
    median: "trung vị",
    max: "lâu nhất",
    injected: "Sự cố giả định",
    detected_of: "được phát hiện",
    by_target: "Theo mục tiêu",
    change: "Chênh lệch",
    samples_ok: "Lần đo đạt",
    outages_title: "Các lần mất liên lạc và suy giảm",
    no_outages: "Không có sự cố nào trong thời gian diễn tập.",
    detected: "Phát hiện",
    alerts: "Cảnh báo",
    acknowledged: "Nhận xử lý",
    restored: "Khôi phục",
    not_restored: "chưa khôi phục",
    no_alert: "không có cảnh báo",
    via: "qua",
    pending: "đang chờ gửi",
    dead: "gửi thất bại",
    degraded_only: "chỉ suy giảm, không tính là mất",
    before_drill: "bắt đầu trước diễn tập",
    in_drill: "trong diễn tập",
    after_start: "sau lần đo lỗi đầu tiên",
    after_detection: "sau khi phát hiện",
    note: "Ghi chú",
    expected_until: "Dự kiến khôi phục",
    detected_yes: "Đã phát hiện",
    detected_no: "Không phát hiện",
    timeline: "Diễn biến",
    kinds: [
        "Bắt đầu diễn tập",
        "Ghi chú",
        "Lần đo lỗi đầu tiên",
        "Phát hiện",
        "Xấu đi",
        "Cảnh báo đã tới",
        "Cảnh báo chưa gửi được",
        "Cảnh báo gửi thất bại",
        "Nhận xử lý",
        "Khôi phục",
        "Kết thúc diễn tập",
    ],
    notes: "Ghi chú diễn tập",
    no_notes: "Chưa có ghi chú.",
    author: "Người ghi",
    definitions: "Cách tính",
    definitions_text: [
        "Mất liên lạc: sự cố có trạng thái xấu nhất là “Mất liên lạc” hoặc “Không tới được”; sự cố chỉ “Suy giảm” được liệt kê nhưng không tính là mất.",
        "Thời gian mất: từ lần đo lỗi đầu tiên đến lần đo đạt đầu tiên khi phục hồi, cắt theo khung thời gian diễn tập; sai số tối đa một chu kỳ đo ở mỗi đầu.",
        "Tỉ lệ hoạt động = 1 − thời gian mất / thời lượng diễn tập; của một nhóm = 1 − tổng thời gian mất / tổng thời lượng các mục tiêu có số liệu. Giai đoạn đối chứng tính cùng cách, từ số liệu đầu tiên có trong giai đoạn đó.",
        "Thời gian phát hiện: từ lần đo lỗi đầu tiên đến lúc chuyển trạng thái (vượt ngưỡng lỗi liên tiếp).",
        "Thời gian cảnh báo: từ lần đo lỗi đầu tiên (và từ lúc phát hiện) đến lúc tin nhắn đầu tiên nêu mục tiêu này tới từng nơi nhận. Nhận xử lý: từ lúc phát hiện. Khôi phục: toàn bộ thời gian sự cố.",
        "Sự cố giả định (ghi chú có mục tiêu bị cắt): được phát hiện nếu mục tiêu có sự cố bắt đầu từ thời điểm ghi chú trừ một chu kỳ đo; thời gian phát hiện tính từ thời điểm ghi chú.",
    ],
    stop: "Dừng diễn tập",
    note_title: "Thêm ghi chú",
    note_text: "Nội dung",
    note_at: "Thời điểm (giờ Việt Nam; để trống là bây giờ)",
    note_expected: "Mục tiêu bị cắt có chủ đích (mã, cách nhau bằng dấu phẩy)",
    note_until: "Dự kiến khôi phục lúc",
    note_submit: "Ghi",
    start_title: "Bắt đầu diễn tập",
    name: "Tên",
    scope_hint: "Để trống là không giới hạn; nhiều giá trị cách nhau bằng dấu phẩy.",
    leaders_hint: "cách nhau bằng dấu phẩy",
    duration: "Thời lượng dự kiến (vd 2h)",
    interval: "Chu kỳ đo (vd 10s)",
    baseline_field: "Giai đoạn đối chứng (vd 7d)",
    start_submit: "Bắt đầu",
    login_to_control: "Đăng nhập bằng mã trực ban để ghi chú hoặc điều khiển diễn tập.",
    csv_sections: [
        "Tóm tắt",
        "Theo nhóm",
        "Theo mục tiêu",
        "Các lần mất liên lạc",
        "Cảnh báo",
        "Sự cố giả định",
        "Diễn biến",
    ],
};

pub static DRILL_EN: DrillStrings = DrillStrings {
    nav: "Drills",
    title: "Drills",
    running: "Drill running",
    ended: "Ended",
    none: "No drills yet.",
    banner: "DRILL",
    elapsed: "running for",
    planned_end: "Planned end",
    open_report: "Open the report",
    report_title: "After-action report",
    scenario: "Scenario",
    scope: "Scope",
    scope_all: "Every target",
    leaders: "In charge",
    started_by: "Started by",
    stopped_by: "Stopped by",
    end_stopped: "stopped",
    end_planned: "planned end reached",
    drill_interval: "Probing interval during the drill",
    baseline: "Baseline window",
    generated: "Generated",
    download: "Download",
    status: "Status",
    summary: "Summary",
    targets_in_scope: "Targets in scope",
    with_data: "with data",
    overall: "Overall availability",
    before: "before the drill",
    downtime: "Total downtime",
    downtime_min: "Down (min)",
    outages: "Outages",
    outages_word: "outages",
    degraded_min: "Degraded (min)",
    worst_operator: "Worst operator",
    worst_commune: "Worst commune",
    no_outage: "no outage",
    detection: "Time to detect",
    delivery: "Alert delivery time",
    acknowledgement: "Time to acknowledge",
    restoration: "Time to restore",
    median: "median",
    max: "max",
    injected: "Injected faults",
    detected_of: "detected",
    by_target: "By target",
    change: "Change",
    samples_ok: "Probes OK",
    outages_title: "Outages and degradations",
    no_outages: "No incident during the drill.",
    detected: "Detected",
    alerts: "Alerts",
    acknowledged: "Acknowledged",
    restored: "Restored",
    not_restored: "not restored",
    no_alert: "no alert",
    via: "via",
    pending: "pending",
    dead: "failed",
    degraded_only: "degraded only, not counted as downtime",
    before_drill: "began before the drill",
    in_drill: "in the drill",
    after_start: "after the first failed probe",
    after_detection: "after detection",
    note: "Note",
    expected_until: "Expected back",
    detected_yes: "Detected",
    detected_no: "Not detected",
    timeline: "Timeline",
    kinds: [
        "Drill started",
        "Note",
        "First failed probe",
        "Detected",
        "Worsened",
        "Alert delivered",
        "Alert not yet delivered",
        "Alert failed",
        "Acknowledged",
        "Restored",
        "Drill ended",
    ],
    notes: "Drill notes",
    no_notes: "No notes yet.",
    author: "Author",
    definitions: "How the numbers are computed",
    definitions_text: [
        "Outage: an incident whose worst state was Down or Unreachable; incidents that were only Degraded are listed but are not downtime.",
        "Downtime: from the first failed probe to the first good probe of the recovery, clipped to the drill window; at most one probe interval off at each end.",
        "Availability = 1 − downtime / drill length; for a group, 1 − total downtime / total length over its targets with data. The baseline is computed the same way, from the first data in its window.",
        "Time to detect: from the first failed probe to the state change (the failure threshold crossed).",
        "Alert delivery: from the first failed probe (and from detection) to the first message naming the target reaching each receiver. Acknowledgement: from detection. Restoration: the whole incident.",
        "Injected fault (a note naming targets failed on purpose): detected when the target has an incident starting no earlier than one probe interval before the note; time to detect counts from the note.",
    ],
    stop: "Stop the drill",
    note_title: "Add a note",
    note_text: "Text",
    note_at: "When (Vietnam time; empty means now)",
    note_expected: "Targets failed on purpose (ids, comma-separated)",
    note_until: "Expected back at",
    note_submit: "Add note",
    start_title: "Start a drill",
    name: "Name",
    scope_hint: "Empty means no restriction; separate several values with commas.",
    leaders_hint: "comma-separated",
    duration: "Planned length (e.g. 2h)",
    interval: "Probing interval (e.g. 10s)",
    baseline_field: "Baseline window (e.g. 7d)",
    start_submit: "Start",
    login_to_control: "Sign in with a duty token to add notes or control drills.",
    csv_sections: [
        "Summary",
        "By group",
        "By target",
        "Outages",
        "Alerts",
        "Injected faults",
        "Timeline",
    ],
};

/// What the page forms say when they cannot do something: refusals, and every typed error of
/// the drill forms and the acknowledge form, so the reason reads in the page's language (the
/// API keeps its English messages). `{id}`, `{n}`, `{target}`, `{field}`, `{value}` and
/// `{detail}` are filled in by [`Lang::drill_error`], [`Lang::request_error`] and
/// [`Lang::ack_error`].
pub struct FormStrings {
    pub error: &'static str,
    pub forged: &'static str,
    pub forbidden: &'static str,
    pub back: &'static str,
    pub store_failed: &'static str,

    pub name_empty: &'static str,
    pub name_too_long: &'static str,
    pub scenario_too_long: &'static str,
    pub duration_zero: &'static str,
    pub duration_too_long: &'static str,
    pub interval_too_short: &'static str,
    pub text_empty: &'static str,
    pub text_too_long: &'static str,
    pub unknown_target: &'static str,
    pub until_not_after_note: &'static str,
    pub note_too_early: &'static str,
    pub empty_scope: &'static str,
    pub overlap: &'static str,
    pub drill_not_found: &'static str,
    pub drill_ended: &'static str,

    pub bad_scope: &'static str,
    pub bad_duration: &'static str,
    pub baseline_too_long: &'static str,
    pub empty_leader: &'static str,
    pub bad_time: &'static str,
    pub until_without_targets: &'static str,
    /// Field names for the messages above: duration, interval, baseline, at, until.
    pub fields: [&'static str; 5],

    pub ack_login: &'static str,
    pub ack_not_found: &'static str,
    pub ack_closed: &'static str,
    pub ack_too_long: &'static str,
}

pub static FORM_VI: FormStrings = FormStrings {
    error: "Không thực hiện được",
    forged: "Biểu mẫu không đến từ trang này; hãy tải lại trang rồi thử lại.",
    forbidden: "Mã truy cập này không có quyền làm việc đó",
    back: "Quay lại",
    store_failed: "Máy giám sát không ghi được vào cơ sở dữ liệu; hãy thử lại sau giây lát.",

    name_empty: "Tên: không được để trống.",
    name_too_long: "Tên: tối đa 200 ký tự.",
    scenario_too_long: "Kịch bản: tối đa {n} ký tự.",
    duration_zero: "Thời lượng: phải lớn hơn 0.",
    duration_too_long: "Thời lượng: tối đa 7 ngày.",
    interval_too_short: "Chu kỳ đo: ít nhất 1 giây.",
    text_empty: "Nội dung ghi chú: không được để trống.",
    text_too_long: "Nội dung ghi chú: tối đa {n} ký tự.",
    unknown_target: "Không có mục tiêu “{target}” trong cấu hình.",
    until_not_after_note: "Thời điểm dự kiến khôi phục phải sau thời điểm ghi chú.",
    note_too_early: "Thời điểm ghi chú sớm hơn lúc bắt đầu diễn tập quá một ngày.",
    empty_scope: "Phạm vi này không khớp mục tiêu nào đã cấu hình.",
    overlap: "Cuộc diễn tập số {id} đang chạy trên một số mục tiêu trong phạm vi này; hãy dừng cuộc đó hoặc thu hẹp phạm vi.",
    drill_not_found: "Không có cuộc diễn tập số {id}.",
    drill_ended: "Cuộc diễn tập số {id} đã kết thúc.",

    bad_scope: "Phạm vi không hợp lệ: {detail}",
    bad_duration: "{field}: “{value}” không phải là khoảng thời gian (vd 10s, 30m, 2h, 7d).",
    baseline_too_long: "Giai đoạn đối chứng: tối đa 90 ngày.",
    empty_leader: "Chỉ huy: không được có tên trống.",
    bad_time: "{field}: “{value}” không phải là thời điểm (vd 14:05 hoặc 2026-11-20T14:05).",
    until_without_targets: "Đã ghi thời điểm dự kiến khôi phục thì phải ghi cả mục tiêu bị cắt có chủ đích.",
    fields: [
        "Thời lượng",
        "Chu kỳ đo",
        "Giai đoạn đối chứng",
        "Thời điểm",
        "Dự kiến khôi phục",
    ],

    ack_login: "Đăng nhập bằng mã trực ban để nhận xử lý sự cố.",
    ack_not_found: "Không có sự cố số {id}.",
    ack_closed: "Sự cố số {id} đã kết thúc, không cần nhận xử lý nữa.",
    ack_too_long: "Ghi chú: tối đa {n} ký tự.",
};

pub static FORM_EN: FormStrings = FormStrings {
    error: "Could not do that",
    forged: "The form did not come from this page; reload the page and try again.",
    forbidden: "This token's role does not allow that",
    back: "Back",
    store_failed: "The monitor could not write to its database; try again in a moment.",

    name_empty: "Name: must not be empty.",
    name_too_long: "Name: at most 200 characters.",
    scenario_too_long: "Scenario: at most {n} characters.",
    duration_zero: "Duration: must be greater than zero.",
    duration_too_long: "Duration: at most 7 days.",
    interval_too_short: "Probing interval: at least 1 second.",
    text_empty: "Note text: must not be empty.",
    text_too_long: "Note text: at most {n} characters.",
    unknown_target: "No target “{target}” is configured.",
    until_not_after_note: "The expected recovery time must be after the note's time.",
    note_too_early: "The note's time is more than a day before the drill started.",
    empty_scope: "This scope matches no configured target.",
    overlap: "Drill {id} is already running over some of these targets; stop it or narrow the scope.",
    drill_not_found: "There is no drill {id}.",
    drill_ended: "Drill {id} has already ended.",

    bad_scope: "The scope is not valid: {detail}",
    bad_duration: "{field}: “{value}” is not a length of time such as 10s, 30m, 2h or 7d.",
    baseline_too_long: "Baseline window: at most 90 days.",
    empty_leader: "In charge: names must not be empty.",
    bad_time: "{field}: “{value}” is not a time such as 14:05 or 2026-11-20T14:05.",
    until_without_targets: "An expected recovery time needs the targets failed on purpose.",
    fields: [
        "Duration",
        "Probing interval",
        "Baseline window",
        "When",
        "Expected back",
    ],

    ack_login: "Sign in with a duty token to acknowledge incidents.",
    ack_not_found: "There is no incident {id}.",
    ack_closed: "Incident {id} has already ended; there is nothing left to acknowledge.",
    ack_too_long: "Comment: at most {n} characters.",
};

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
