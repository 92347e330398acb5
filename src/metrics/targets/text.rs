//! The text exposition format, by hand: a target's label values escaped once, and a writer
//! that puts out one family at a time and hands the text on in chunks.

use std::fmt::Write as _;
use std::sync::Arc;

use super::{CHUNK, Data, Entry};
use crate::config::Target;

/// Label names of a target, in the order they are written (sorted, as the prometheus crate
/// writes them, so scrapes read the same as before).
const NAMES: [&str; 5] = ["commune", "kind", "operator", "province", "target"];
/// One target's label values, escaped for the text format, joined in one allocation.
pub(super) struct Labels {
    text: Box<str>,
    /// End of each value in `text`, in [`NAMES`] order.
    ends: [usize; 5],
}

impl Labels {
    pub(super) fn new(t: &Target) -> Labels {
        let values = [
            t.labels.commune.as_str(),
            t.kind(),
            t.labels.operator.as_str(),
            t.labels.province.as_str(),
            t.id.as_str(),
        ];
        let mut text = String::new();
        let mut ends = [0; 5];
        for (i, v) in values.iter().enumerate() {
            escape_into(&mut text, v);
            ends[i] = text.len();
        }
        Labels {
            text: text.into_boxed_str(),
            ends,
        }
    }

    pub(super) fn value(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// Writes `{name="value",...}` with `extra` (an already escaped value) in its sorted place.
    fn write(&self, out: &mut String, extra: Option<(&str, &str)>) {
        out.push('{');
        let mut extra = extra;
        for (i, name) in NAMES.iter().enumerate() {
            if let Some((en, ev)) = extra
                && en < *name
            {
                push_pair(out, en, ev);
                out.push(',');
                extra = None;
            }
            push_pair(out, name, self.value(i));
            if i + 1 < NAMES.len() {
                out.push(',');
            }
        }
        if let Some((en, ev)) = extra {
            out.push(',');
            push_pair(out, en, ev);
        }
        out.push('}');
    }
}

fn push_pair(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    out.push_str(value);
    out.push('"');
}

/// Label value escaping of the text format: backslash, double quote and newline.
fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A sample value as the text format spells it.
pub(super) fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // Writing to a String cannot fail.
        let _ = write!(out, "{v}");
    }
}

pub(super) struct Writer<'a> {
    pub(super) out: &'a mut String,
    pub(super) flush: &'a mut dyn FnMut(&mut String) -> bool,
    /// False once the reader went away: the rest is skipped.
    pub(super) ok: bool,
}

impl Writer<'_> {
    /// One family: its HELP and TYPE lines before its first series (none if it has no
    /// series, as the prometheus crate does), then `series` for every target.
    pub(super) fn family(
        &mut self,
        entries: &[Arc<Entry>],
        name: &str,
        kind: &str,
        help: &str,
        series: impl Fn(&mut Writer<'_>, &Labels, &Data),
    ) {
        let mut header = false;
        for e in entries {
            if !self.ok {
                return;
            }
            let d = e.lock();
            let before = self.out.len();
            if !header {
                let _ = write!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
            }
            let start = self.out.len();
            series(self, &e.labels, &d);
            drop(d);
            if self.out.len() == start {
                // Nothing for this target: take the header back until a target has series.
                self.out.truncate(before);
                continue;
            }
            header = true;
            if self.out.len() >= CHUNK {
                self.ok = (self.flush)(self.out);
            }
        }
    }

    /// A gauge family with one series per target that has a value.
    pub(super) fn gauge(
        &mut self,
        entries: &[Arc<Entry>],
        name: &str,
        help: &str,
        value: impl Fn(&Data) -> Option<f64>,
    ) {
        self.family(entries, name, "gauge", help, |w, l, d| {
            if let Some(v) = value(d) {
                w.line(name, l, None, v);
            }
        });
    }

    pub(super) fn line(
        &mut self,
        name: &str,
        labels: &Labels,
        extra: Option<(&str, &str)>,
        v: f64,
    ) {
        self.out.push_str(name);
        labels.write(self.out, extra);
        self.out.push(' ');
        push_value(self.out, v);
        self.out.push('\n');
    }
}
