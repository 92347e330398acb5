//! Webhook templates (`body_template`, templated `headers`): the fields a template may name,
//! the escaping its content type chooses, and the check at load against sample messages.
//!
//! The fields live here, below the alerting code that fills them from a notification, so the
//! configuration can refuse a template that names a field which does not exist: undefined
//! values are errors (minijinja's `Strict`), and every template is rendered once at load.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;

/// Labels every `group` and target carries in a template, empty when not set, so a template
/// written for one `group_by` keeps working with another.
pub const LABELS: [&str; 6] = [
    "operator", "service", "province", "commune", "severity", "kind",
];

/// The fields of one message, as templates see them. Absent values are empty strings, never
/// `none`, so `{{ cause }}` cannot fail at 3 a.m. for a message the load-time samples did
/// not foresee. Documented in docs/alerting.md: extend, never rename.
#[derive(Debug, Clone, Serialize)]
pub struct Fields {
    pub id: String,
    pub idempotency_key: String,
    pub receiver: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// `new`, `update` or `repeat`.
    pub kind: String,
    /// `vi` or `en`.
    pub language: String,
    /// The one-line summary, with the drill marker in a drill.
    pub title: String,
    /// Title and lines; fitted into `max_chars` when the receiver sets it.
    pub text: String,
    pub drill: bool,
    pub drill_id: String,
    pub drill_name: String,
    pub group: BTreeMap<String, String>,
    pub firing: usize,
    pub resolved: usize,
    /// Communes with a failing target, in name order.
    pub communes: Vec<String>,
    pub targets: Vec<TargetFields>,
    /// The status page, or "" when `external_url` is not set.
    pub link: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The same moment in Asia/Ho_Chi_Minh, as people read it.
    pub created_local: String,
}

/// One target of a message, as templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetFields {
    pub id: String,
    pub name: String,
    /// `down`, `degraded`, `unreachable`, `up` ...
    pub state: String,
    /// `firing` or `resolved`.
    pub status: String,
    pub cause: String,
    pub operator: String,
    pub service: String,
    pub province: String,
    pub commune: String,
    pub severity: String,
    pub kind: String,
    pub started_at: String,
    pub ended_at: String,
    pub acknowledged_by: String,
    pub link: String,
}

/// How printed values are escaped, chosen by the body's content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// `application/json` and `*+json`: every value prints as a JSON literal (`"..."`).
    Json,
    /// `application/x-www-form-urlencoded`: every value is percent-encoded.
    Form,
    /// XML (SOAP gateways) and HTML: every value is entity-escaped, since causes carry text
    /// from the probed pages themselves.
    Markup,
    /// Anything else (and header values): printed as is.
    None,
}

/// The custom auto-escape name of form bodies.
const FORM: &str = "form";

impl Escape {
    pub fn for_content_type(content_type: &str) -> Escape {
        let base = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if base == "application/json" || base.ends_with("+json") {
            Escape::Json
        } else if base == "application/x-www-form-urlencoded" {
            Escape::Form
        } else if base.ends_with("/xml") || base.ends_with("+xml") || base == "text/html" {
            Escape::Markup
        } else {
            Escape::None
        }
    }
}

/// A template that does not parse or cannot render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// Percent-encodes everything but RFC 3986's unreserved characters, so `&`, `=`, `+`, quotes
/// and newlines in a name cannot end a form field early.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn printed(v: &Value) -> String {
    if v.is_none() || v.is_undefined() {
        String::new()
    } else {
        v.to_string()
    }
}

fn environment(escape: Escape) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(move |_| match escape {
        Escape::Json => AutoEscape::Json,
        Escape::Form => AutoEscape::Custom(FORM),
        Escape::Markup => AutoEscape::Html,
        Escape::None => AutoEscape::None,
    });
    env.set_formatter(|out, state, value| {
        if state.auto_escape() == AutoEscape::Custom(FORM) && !value.is_safe() {
            out.write_str(&urlencode(&printed(value)))?;
            Ok(())
        } else if state.auto_escape() == AutoEscape::Custom(FORM) {
            out.write_str(&printed(value))?;
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    // Marked safe, so the auto-escape of a form or JSON body does not encode them twice.
    env.add_filter("urlencode", |v: Value| {
        Value::from_safe_string(urlencode(&printed(&v)))
    });
    env.add_filter("json", |v: Value| {
        serde_json::to_string(&v)
            .map(Value::from_safe_string)
            .map_err(|e| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    "cannot write as JSON",
                )
                .with_source(e)
            })
    });
    env
}

/// Renders `source` for one message. `name` is the configuration key, shown in errors.
pub fn render(
    name: &str,
    source: &str,
    escape: Escape,
    fields: &Fields,
) -> Result<String, TemplateError> {
    let env = environment(escape);
    let t = env
        .template_from_named_str(name, source)
        .map_err(|e| explain(source, &e))?;
    t.render(Value::from_serialize(fields))
        .map_err(|e| explain(source, &e))
}

/// "undefined value: `{{ target.nmae }}` (template line 2)": the part of the template at
/// fault, which says more than minijinja's kind alone.
fn explain(source: &str, e: &minijinja::Error) -> TemplateError {
    let mut s = match e.kind() {
        minijinja::ErrorKind::UndefinedError => "names a field that does not exist".to_string(),
        minijinja::ErrorKind::SyntaxError => "does not parse".to_string(),
        k => k.to_string(),
    };
    if let Some(d) = e.detail() {
        let _ = write!(s, " ({d})");
    }
    if e.kind() == minijinja::ErrorKind::UndefinedError
        && let Some(at) = e.range().and_then(|r| enclosing(source, r))
    {
        let _ = write!(s, ": `{at}`");
    }
    if let Some(line) = e.line() {
        let _ = write!(s, " (template line {line})");
    }
    if e.kind() == minijinja::ErrorKind::UndefinedError {
        s.push_str("; the fields are listed in docs/alerting.md");
    }
    TemplateError(s)
}

/// The `{{ ... }}` or `{% ... %}` around `r` (minijinja points at the failing part only, such
/// as `.comune` of `targets[0].comune`), on one line.
fn enclosing(source: &str, r: std::ops::Range<usize>) -> Option<String> {
    let before = source.get(..r.start)?;
    let start = before.rfind("{{").max(before.rfind("{%"))?;
    let after = source.get(r.end..)?;
    let end = r.end
        + [after.find("}}"), after.find("%}")]
            .into_iter()
            .flatten()
            .min()?
        + 2;
    let text = source.get(start..end)?;
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Renders `source` against the sample messages, as the loader does: a template that does not
/// parse, names an unknown field, or (for JSON) does not produce JSON is refused.
pub fn check(name: &str, source: &str, escape: Escape) -> Result<(), TemplateError> {
    for fields in samples() {
        let out = render(name, source, escape, &fields)?;
        if escape == Escape::Json
            && let Err(e) = serde_json::from_str::<serde_json::Value>(&out)
        {
            return Err(TemplateError(format!(
                "does not render valid JSON ({e}); values print as JSON literals here, so \
                 write `{{{{ title }}}}` without quotes around it"
            )));
        }
    }
    Ok(())
}

/// Messages that visit every branch a template is likely to have: a real outage and a drill,
/// firing and resolved targets, and names with quotes, `&`, markup and a newline.
fn samples() -> [Fields; 2] {
    let labels = |commune: &str| {
        let mut m: BTreeMap<String, String> = LABELS
            .iter()
            .map(|k| (k.to_string(), String::new()))
            .collect();
        m.insert("operator".into(), "viettel".into());
        m.insert("province".into(), "Hà Tĩnh".into());
        m.insert("commune".into(), commune.into());
        m
    };
    let target = |id: &str, name: &str, status: &str, commune: &str| TargetFields {
        id: id.into(),
        name: name.into(),
        state: if status == "firing" { "down" } else { "up" }.into(),
        status: status.into(),
        cause: "connect: connection refused".into(),
        operator: "viettel".into(),
        service: "mobile".into(),
        province: "Hà Tĩnh".into(),
        commune: commune.into(),
        severity: "critical".into(),
        kind: "tcp".into(),
        started_at: "2026-09-07T06:05:00Z".into(),
        ended_at: String::new(),
        acknowledged_by: String::new(),
        link: "https://status.example.invalid/targets/ht-ky-anh-viettel".into(),
    };
    let real = Fields {
        id: "cw-0000000000000001".into(),
        idempotency_key: "cw-0000000000000001-1".into(),
        receiver: "sample".into(),
        status: "firing".into(),
        kind: "new".into(),
        language: "vi".into(),
        title: "🔴 Viettel: 2 xã/phường mất liên lạc tại Hà Tĩnh".into(),
        text: "🔴 Viettel: 2 xã/phường mất liên lạc tại Hà Tĩnh\n• Kỳ Anh: Trạm \"A\" & <B>".into(),
        drill: false,
        drill_id: String::new(),
        drill_name: String::new(),
        group: labels(""),
        firing: 1,
        resolved: 1,
        communes: vec!["Kỳ Anh".into()],
        targets: vec![
            target(
                "ht-ky-anh-viettel",
                "Trạm \"Kỳ Anh\" & <dự phòng>\nhàng 2",
                "firing",
                "Kỳ Anh",
            ),
            target(
                "ht-thach-ha-viettel",
                "Viettel — Thạch Hà",
                "resolved",
                "Thạch Hà",
            ),
        ],
        link: "https://status.example.invalid/".into(),
        created_at: "2026-09-07T07:45:00Z".into(),
        created_local: "07/09/2026 14:45 (GMT+7)".into(),
    };
    let mut drill = real.clone();
    drill.drill = true;
    drill.drill_id = "dt-2026-09".into();
    drill.drill_name = "Diễn tập \"bão số 3\"".into();
    drill.status = "resolved".into();
    drill.title = format!("[DIỄN TẬP] {}", real.title);
    [real, drill]
}

#[cfg(test)]
mod tests {
    // Tests unwrap: a panic is how a test reports a failure.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn escaping_follows_the_content_type() {
        let f = &samples()[0];
        let json = render(
            "t",
            "{\"m\": {{ targets[0].name }}, \"j\": {{ title | json }}}",
            Escape::Json,
            f,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["m"], f.targets[0].name);
        assert_eq!(v["j"], f.title);
        let form = render(
            "t",
            "to=0912&text={{ targets[0].name }}&u={{ title | urlencode }}",
            Escape::Form,
            f,
        )
        .unwrap();
        assert_eq!(form.matches('&').count(), 2, "{form}");
        let xml = render(
            "t",
            "<sms><text>{{ targets[0].name }}</text></sms>",
            Escape::Markup,
            f,
        )
        .unwrap();
        assert!(
            xml.contains("&amp; &lt;dự phòng&gt;") && !xml.contains("<dự phòng>"),
            "{xml}"
        );
        assert!(!form.contains('\n') && !form.contains('"'), "{form}");
        assert_eq!(
            Escape::for_content_type("application/json; charset=utf-8"),
            Escape::Json
        );
        assert_eq!(Escape::for_content_type("text/plain"), Escape::None);
        assert_eq!(
            Escape::for_content_type("application/soap+xml; charset=utf-8"),
            Escape::Markup
        );
        assert_eq!(Escape::for_content_type("text/xml"), Escape::Markup);
    }

    #[test]
    fn unknown_fields_and_bad_json_are_refused() {
        let e = check("body_template", "{{ titel }}", Escape::None).unwrap_err();
        assert!(e.0.contains("names a field that does not exist"), "{e}");
        assert!(e.0.contains("`titel`") || e.0.contains("titel"), "{e}");
        let e = check(
            "body_template",
            "{% for t in targets %}{{ t.nmae }}{% endfor %}",
            Escape::None,
        )
        .unwrap_err();
        assert!(e.0.contains("nmae"), "{e}");
        let e = check("body_template", "{\"m\": \"{{ title }}\"}", Escape::Json).unwrap_err();
        assert!(e.0.contains("does not render valid JSON"), "{e}");
        let e = check("body_template", "{{ title", Escape::None).unwrap_err();
        assert!(e.0.contains("does not parse"), "{e}");
        check(
            "body_template",
            "{{ drill_name }}{{ group.commune }}",
            Escape::None,
        )
        .unwrap();
    }
}
