//! The words of the page forms (drill forms, the acknowledge form) and their errors, in
//! Vietnamese and English.

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
