//! Configuration errors that name the file, the line and the key, so an operator can fix them fast.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found while loading or validating a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the problem can be pinned to one.
    pub line: Option<usize>,
    /// The offending key (`targets[3].timeout` style paths are avoided: operators search by key).
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub fn new(
        file: &Path,
        line: Option<usize>,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            key: key.map(str::to_owned),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in one load; the daemon refuses the whole configuration if any exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

/// Turns a byte offset into a 1-based line number.
pub fn line_of(src: &str, offset: usize) -> usize {
    let end = offset.min(src.len());
    src.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Finds the line where `key = ...` is written inside `span` of `src`, falling back to the
/// span's first line. Validation errors found after deserialisation use this to point at the key
/// itself rather than at the table that holds it.
pub fn key_line(src: &str, span: std::ops::Range<usize>, key: &str) -> usize {
    line_of(src, key_offset(src, span, key))
}

/// The byte offset of the line where `key = ...` is written inside `span`, or the span's start.
pub fn key_offset(src: &str, span: std::ops::Range<usize>, key: &str) -> usize {
    let start = span.start.min(src.len());
    let end = section_end(src, start).max(span.end).min(src.len());
    let text = &src[start..end];
    let mut offset = start;
    for line in text.split_inclusive('\n') {
        // Keys may appear at the start of a line or after `{`/`,` in an inline table.
        for part in line.split([',', '{']) {
            let trimmed = part.trim_start();
            if let Some(rest) = trimmed.strip_prefix(key)
                && rest.trim_start().starts_with('=')
            {
                return offset;
            }
        }
        offset += line.len();
    }
    start
}

/// For a table written with a `[header]` or `[[header]]`, the span toml reports may cover only
/// the header; the table's keys run until the next header line. Inline tables are exact already.
fn section_end(src: &str, start: usize) -> usize {
    let rest = &src[start..];
    if !rest.starts_with('[') {
        return start;
    }
    let mut offset = start;
    for (i, line) in rest.split_inclusive('\n').enumerate() {
        if i > 0 && line.trim_start().starts_with('[') {
            return offset;
        }
        offset += line.len();
    }
    src.len()
}

/// Converts a `toml` parse or deserialisation error into our form, recovering the key from the
/// source line when the message does not carry it.
pub fn from_toml(file: &Path, src: &str, err: &toml::de::Error) -> ConfigError {
    let message = did_you_mean(err.message().trim());
    let (line, key) = match err.span() {
        Some(span) => {
            let line = line_of(src, span.start);
            (
                Some(line),
                key_from_message(&message).or_else(|| key_on_line(src, line)),
            )
        }
        None => (None, key_from_message(&message)),
    };
    ConfigError {
        file: file.to_path_buf(),
        line,
        key,
        message,
    }
}

/// serde's "unknown field `intervall`, expected one of `id`, `name`, … (40 more)" becomes
/// "unknown field `intervall`; did you mean `interval`?" — the known key nearest to the typo, or
/// no guess when none is near (a list of forty keys helps no one).
fn did_you_mean(message: &str) -> String {
    // Only for keys: a value's few allowed variants are worth listing as serde does.
    let Some((head, known)) = message
        .split_once(", expected one of ")
        .filter(|(h, _)| h.starts_with("unknown field"))
    else {
        return message.to_string();
    };
    let Some(typed) = head.split('`').nth(1) else {
        return message.to_string();
    };
    let best = known
        .split(", ")
        .filter_map(|k| k.trim().strip_prefix('`')?.strip_suffix('`'))
        .map(|k| (strsim::damerau_levenshtein(typed, k), k))
        .min();
    match best {
        // Close enough to be the same word mistyped: at most a third of it changed.
        Some((d, k)) if d <= typed.chars().count().div_ceil(3).max(1) => {
            format!("{head}; did you mean `{k}`?")
        }
        _ => format!("{head}; this table has no such key"),
    }
}

/// serde names the key in "unknown field `x`" and "missing field `x`" messages.
fn key_from_message(message: &str) -> Option<String> {
    for prefix in [
        "unknown field `",
        "missing field `",
        "duplicate key `",
        "duplicate field `",
    ] {
        if let Some(rest) = message.split(prefix).nth(1) {
            return rest.split('`').next().map(str::to_owned);
        }
    }
    None
}

/// The key written at the start of a `key = value` line.
fn key_on_line(src: &str, line: usize) -> Option<String> {
    let text = src.lines().nth(line.checked_sub(1)?)?;
    let (key, _) = text.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    valid.then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_line_finds_keys_in_tables_and_inline_tables() {
        let src = "[[targets]]\nid = \"a\"\ntimeout = \"5s\"\n\ntargets = [{ id = \"b\", url = \"x\" }]\n";
        assert_eq!(key_line(src, 0..src.len(), "timeout"), 3);
        let inline = src.find("{").unwrap_or(0);
        assert_eq!(key_line(src, inline..src.len(), "url"), 5);
        assert_eq!(key_line(src, 0..src.len(), "missing"), 1);
        // A header-only span still finds keys below the header, but not past the next one.
        let two = "[[targets]]\nid = \"a\"\n[[targets]]\nid = \"b\"\nurl = \"u\"\n";
        assert_eq!(key_line(two, 0..11, "url"), 1);
        let second = two.find("[[targets]]\nid = \"b\"").unwrap_or(0);
        assert_eq!(key_line(two, second..second + 11, "url"), 5);
    }

    #[test]
    fn unknown_keys_get_the_nearest_known_one() {
        let m = "unknown field `intervall`, expected one of `id`, `name`, `interval`, `timeout`";
        assert_eq!(
            did_you_mean(m),
            "unknown field `intervall`; did you mean `interval`?"
        );
        let m = "unknown field `colour`, expected one of `id`, `name`, `interval`";
        assert_eq!(
            did_you_mean(m),
            "unknown field `colour`; this table has no such key"
        );
        assert_eq!(
            did_you_mean("invalid type: integer"),
            "invalid type: integer"
        );
    }

    #[test]
    fn display_names_file_line_and_key() {
        let e = ConfigError::new(Path::new("a.toml"), Some(4), Some("timeout"), "bad");
        assert_eq!(e.to_string(), "a.toml:4: key `timeout`: bad");
    }
}
