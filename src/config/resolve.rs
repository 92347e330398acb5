//! Turns the raw schema into a validated [`Config`]: applies defaults, expands includes and
//! collects every error with its file, line and key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::error::{ConfigError, ConfigErrors, from_toml, key_line, key_offset, line_of};
use super::schema::{RawInclude, RawRoot, RawTarget};
use super::*;

/// Collects errors while walking one file.
pub(super) struct Ctx<'a> {
    pub file: &'a Path,
    pub src: &'a str,
    pub errors: &'a mut Vec<ConfigError>,
    /// (byte offset, line) of the last [`Ctx::line_at`] answer.
    pub cursor: (usize, usize),
}

impl Ctx<'_> {
    /// The line of `offset`, counting on from the previous answer: targets are resolved in
    /// file order, so a file costs one pass instead of one pass per target (which made a
    /// 20,000-target file quadratic).
    pub fn line_at(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.src.len());
        let (from, line) = if offset >= self.cursor.0 {
            self.cursor
        } else {
            (0, 1)
        };
        let line = line
            + self.src.as_bytes()[from..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
        self.cursor = (offset, line);
        line
    }

    pub fn err_key(&mut self, span: std::ops::Range<usize>, key: &str, message: impl Into<String>) {
        let line = key_line(self.src, span, key);
        self.err_at(line, key, message);
    }

    /// An error at a known line (an element of a list such as `checks`).
    pub fn err_at(&mut self, line: usize, key: &str, message: impl Into<String>) {
        self.errors
            .push(ConfigError::new(self.file, Some(line), Some(key), message));
    }
}

pub(super) fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(path, None, None, format!("cannot read configuration: {e}"))
    })?;
    load_text(path, &text)
}

pub(super) fn load_text(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    let raw: RawRoot = toml::from_str(text).map_err(|e| from_toml(path, text, &e))?;
    let mut errors = Vec::new();
    let mut ctx = Ctx {
        file: path,
        src: text,
        errors: &mut errors,
        cursor: (0, 1),
    };

    let server = resolve_server(&mut ctx, raw.server.as_ref());
    let mut retention = crate::store::Retention::default();
    if let Some(s) = &raw.storage {
        let r = s.get_ref();
        retention.raw = r.retention.unwrap_or(retention.raw);
        retention.minute = r.minute_retention.unwrap_or(retention.minute);
        if retention.raw < Duration::from_secs(3_600) {
            ctx.err_key(
                s.span(),
                "retention",
                "raw samples must be kept at least 1h",
            );
        }
        if retention.minute < Duration::from_secs(86_400) {
            ctx.err_key(
                s.span(),
                "minute_retention",
                "minute rollups must be kept at least 1d",
            );
        }
    }
    let storage = StorageConfig {
        path: raw
            .storage
            .as_ref()
            .and_then(|s| s.get_ref().path.clone())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STORAGE_PATH)),
        retention,
    };
    if storage.path.as_os_str().is_empty()
        && let Some(s) = &raw.storage
    {
        ctx.err_key(s.span(), "path", "storage path must not be empty");
    }
    let defaults = resolve_defaults(&mut ctx, raw.defaults.as_ref());
    let scheduler = resolve_scheduler(&mut ctx, raw.scheduler.as_ref());

    let mut targets = Vec::new();
    for t in &raw.targets {
        if let Some(target) = resolve_target(&mut ctx, t, &defaults) {
            targets.push(target);
        }
    }

    // Included files: globs are relative to the main file's folder, expanded in sorted order
    // so ids and the page keep a stable order across machines.
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    for pattern in &raw.include {
        let full = base.join(pattern.get_ref());
        let full_str = full.to_string_lossy().into_owned();
        let paths = match glob::glob(&full_str) {
            Ok(paths) => paths,
            Err(e) => {
                ctx.errors.push(ConfigError::new(
                    path,
                    Some(line_of(text, pattern.span().start)),
                    Some("include"),
                    format!("invalid pattern `{}`: {e}", pattern.get_ref()),
                ));
                continue;
            }
        };
        let mut files: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        files.sort();
        let has_wildcard = pattern.get_ref().contains(['*', '?', '[']);
        if files.is_empty() && !has_wildcard {
            ctx.errors.push(ConfigError::new(
                path,
                Some(line_of(text, pattern.span().start)),
                Some("include"),
                format!("included file `{}` does not exist", pattern.get_ref()),
            ));
        }
        for file in files {
            load_include(&file, &defaults, &mut targets, ctx.errors);
        }
    }

    check_targets(&targets, &mut errors);
    let monitor = resolve_monitor(path, text, raw.monitor.as_ref(), &targets, &mut errors);
    let auth = {
        let mut ctx = Ctx {
            file: path,
            src: text,
            errors: &mut errors,
            cursor: (0, 1),
        };
        resolve_auth(&mut ctx, raw.auth.as_ref())
    };
    let (alerting, receivers, routes, maintenance, drills, drill_defaults) = {
        use super::alerting as a;
        let mut ctx = a::Ctx {
            file: path,
            src: text,
            errors: &mut errors,
        };
        let alerting = a::resolve_alerting(&mut ctx, raw.alerting.as_ref());
        let receivers = a::resolve_receivers(&mut ctx, &raw.receivers);
        let ids: Vec<String> = raw
            .receivers
            .iter()
            .map(|r| r.get_ref().id.clone())
            .collect();
        let routes = a::resolve_routes(&mut ctx, &raw.routes, &receivers, &ids);
        let maintenance = a::resolve_maintenance(&mut ctx, &raw.maintenance);
        let drills = super::drills::resolve_drills(&mut ctx, &raw.drills, &targets);
        let drill_defaults =
            super::drills::resolve_drill_defaults(&mut ctx, raw.drill_defaults.as_ref());
        (
            alerting,
            receivers,
            routes,
            maintenance,
            drills,
            drill_defaults,
        )
    };

    if errors.is_empty() {
        Ok(Config {
            source: path.to_path_buf(),
            server,
            storage,
            defaults,
            scheduler,
            monitor,
            auth,
            alerting,
            receivers,
            routes,
            maintenance,
            drills,
            drill_defaults,
            targets: targets.into_iter().map(std::sync::Arc::new).collect(),
        })
    } else {
        Err(ConfigErrors(errors))
    }
}

fn load_include(
    file: &Path,
    defaults: &Defaults,
    targets: &mut Vec<Target>,
    errors: &mut Vec<ConfigError>,
) {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            errors.push(ConfigError::new(
                file,
                None,
                None,
                format!("cannot read included file: {e}"),
            ));
            return;
        }
    };
    let raw: RawInclude = match toml::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            errors.push(from_toml(file, &text, &e));
            return;
        }
    };
    let mut ctx = Ctx {
        file,
        src: &text,
        errors,
        cursor: (0, 1),
    };
    for t in &raw.targets {
        if let Some(target) = resolve_target(&mut ctx, t, defaults) {
            targets.push(target);
        }
    }
}

fn resolve_server(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<super::schema::RawServer>>,
) -> ServerConfig {
    let fallback: SocketAddr = DEFAULT_LISTEN
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 9800)));
    let Some(raw) = raw else {
        return ServerConfig {
            listen: fallback,
            external_url: None,
            limits: super::ServeLimits::default(),
        };
    };
    let listen = match &raw.get_ref().listen {
        None => fallback,
        Some(s) => match s.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                ctx.err_key(
                    raw.span(),
                    "listen",
                    format!("`{s}` is not an address:port such as \"127.0.0.1:9800\""),
                );
                fallback
            }
        },
    };
    let external_url = raw.get_ref().external_url.clone();
    if let Some(u) = &external_url
        && url::Url::parse(u).is_err()
    {
        ctx.err_key(
            raw.span(),
            "external_url",
            format!("`{u}` is not an absolute URL"),
        );
    }
    let limits = serve_limits(ctx, raw);
    ServerConfig {
        listen,
        external_url: external_url.map(|u| u.trim_end_matches('/').to_string()),
        limits,
    }
}

/// The web server's per-client limits: timeouts from a second to ten minutes, at least one
/// connection per client.
fn serve_limits(ctx: &mut Ctx<'_>, raw: &Spanned<super::schema::RawServer>) -> super::ServeLimits {
    let mut limits = super::ServeLimits::default();
    let r = raw.get_ref();
    let range = Duration::from_secs(1)..=Duration::from_secs(600);
    for (key, value, slot) in [
        (
            "header_read_timeout",
            r.header_read_timeout,
            &mut limits.header_read_timeout,
        ),
        (
            "body_read_timeout",
            r.body_read_timeout,
            &mut limits.body_read_timeout,
        ),
    ] {
        match value {
            Some(d) if range.contains(&d) => *slot = d,
            Some(d) => ctx.err_key(
                raw.span(),
                key,
                format!("{} is outside 1s..10m", humantime::format_duration(d)),
            ),
            None => {}
        }
    }
    match r.max_connections_per_client {
        Some(0) => ctx.err_key(
            raw.span(),
            "max_connections_per_client",
            "must be at least 1",
        ),
        Some(n) => limits.max_connections_per_client = n,
        None => {}
    }
    limits
}

fn resolve_defaults(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<super::schema::RawDefaults>>,
) -> Defaults {
    let mut d = Defaults {
        interval: DEFAULT_INTERVAL,
        timeout: DEFAULT_TIMEOUT,
        failure_threshold: DEFAULT_FAILURE_THRESHOLD,
        success_threshold: DEFAULT_SUCCESS_THRESHOLD,
    };
    let Some(raw) = raw else { return d };
    let span = raw.span();
    let r = raw.get_ref();
    if let Some(i) = r.interval {
        d.interval = i;
    }
    if let Some(t) = r.timeout {
        d.timeout = t;
    }
    if let Some(f) = r.failure_threshold {
        d.failure_threshold = f;
    }
    if let Some(s) = r.success_threshold {
        d.success_threshold = s;
    }
    // What the table leaves out is a built-in default, which is valid.
    let here = SetHere {
        interval: r.interval.is_some(),
        timeout: r.timeout.is_some(),
    };
    check_timing(ctx, span, d.interval, d.timeout, here);
    check_threshold(ctx, raw.span(), "failure_threshold", d.failure_threshold);
    check_threshold(ctx, raw.span(), "success_threshold", d.success_threshold);
    d
}

fn resolve_scheduler(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<super::schema::RawScheduler>>,
) -> SchedulerConfig {
    // Unset, the scheduler sizes the cap for a storm from the targets and the drill pace.
    let mut s = SchedulerConfig {
        max_concurrency: None,
    };
    if let Some(raw) = raw
        && let Some(m) = raw.get_ref().max_concurrency
    {
        if m == 0 || m > MAX_CONCURRENCY_LIMIT {
            ctx.err_key(
                raw.span(),
                "max_concurrency",
                format!("must be between 1 and {MAX_CONCURRENCY_LIMIT}, got {m}"),
            );
        } else {
            s.max_concurrency = Some(m);
        }
    }
    s
}

/// The smallest interval accepted: below it a probe storm costs more than it tells.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The largest: a target probed less than daily is not being watched (and `100000d` is a typo).
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// No probe needs longer than this to answer; more is a typo that would hold sockets for hours.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// Which of interval and timeout a table sets itself; what it inherits was checked where it
/// was written, so an inherited mistake is reported once, at its own key.
#[derive(Clone, Copy)]
struct SetHere {
    interval: bool,
    timeout: bool,
}

fn check_timing(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    interval: Duration,
    timeout: Duration,
    here: SetHere,
) {
    let fmt = |d: Duration| humantime::format_duration(d).to_string();
    if here.interval {
        if interval < MIN_INTERVAL {
            let msg = format!("interval {} is below the minimum of 1s", fmt(interval));
            ctx.err_key(span, "interval", msg);
            // The timeout cannot be judged against an interval that is itself wrong.
            return;
        }
        if interval > MAX_INTERVAL {
            let msg = format!("interval {} is above the maximum of 1d", fmt(interval));
            ctx.err_key(span, "interval", msg);
            return;
        }
    }
    if here.timeout {
        if timeout.is_zero() {
            ctx.err_key(span, "timeout", "timeout must be greater than zero");
            return;
        }
        if timeout > MAX_TIMEOUT {
            let msg = format!("timeout {} is above the maximum of 10m", fmt(timeout));
            ctx.err_key(span, "timeout", msg);
            return;
        }
    }
    if !(here.interval || here.timeout) || timeout < interval {
        return;
    }
    // An inherited interval that is itself wrong was reported where it was written.
    if !here.interval && !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        return;
    }
    // Point at whichever key this table set, so the fix is obvious.
    let key = if here.timeout { "timeout" } else { "interval" };
    let msg = format!(
        "timeout {} must be below interval {}",
        fmt(timeout),
        fmt(interval)
    );
    ctx.err_key(span, key, msg);
}

fn check_threshold(ctx: &mut Ctx<'_>, span: std::ops::Range<usize>, key: &str, v: u32) {
    if v == 0 || v > 100 {
        ctx.err_key(span, key, format!("must be between 1 and 100, got {v}"));
    }
}

/// Ids appear in URLs, metric labels and file names: keep them to a safe alphabet.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn resolve_target(
    ctx: &mut Ctx<'_>,
    raw: &Spanned<RawTarget>,
    defaults: &Defaults,
) -> Option<Target> {
    let span = raw.span();
    let r = raw.get_ref();
    let before = ctx.errors.len();

    if !valid_id(&r.id) {
        ctx.err_key(
            span.clone(),
            "id",
            format!(
                "`{}` is not a valid id: use 1-128 characters from a-z, 0-9, '.', '_' and '-'",
                r.id
            ),
        );
    }
    let interval = r.interval.unwrap_or(defaults.interval);
    let timeout = r.timeout.unwrap_or(defaults.timeout);
    let here = SetHere {
        interval: r.interval.is_some(),
        timeout: r.timeout.is_some(),
    };
    check_timing(ctx, span.clone(), interval, timeout, here);
    let failure_threshold = r.failure_threshold.unwrap_or(defaults.failure_threshold);
    let success_threshold = r.success_threshold.unwrap_or(defaults.success_threshold);
    check_threshold(ctx, span.clone(), "failure_threshold", failure_threshold);
    check_threshold(ctx, span.clone(), "success_threshold", success_threshold);

    let parts = super::kinds::resolve(ctx, raw, &r.id, timeout);

    for (key, value) in [
        ("operator", &r.operator),
        ("service", &r.service),
        ("province", &r.province),
        ("commune", &r.commune),
    ] {
        if let Some(v) = value
            && v.len() > 200
        {
            ctx.err_key(span.clone(), key, "label values are limited to 200 bytes");
        }
    }

    if let Some(sev) = &r.severity
        && !matches!(sev.as_str(), "critical" | "warning" | "info")
    {
        ctx.err_key(
            span.clone(),
            "severity",
            format!("`{sev}` must be critical, warning or info"),
        );
    }

    if ctx.errors.len() > before {
        return None;
    }
    let spec = parts.spec?;
    Some(Target {
        id: r.id.clone(),
        name: r
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| r.id.clone()),
        spec,
        interval,
        timeout,
        failure_threshold,
        success_threshold,
        checks: parts.checks,
        degraded: parts.degraded,
        labels: Labels {
            operator: r.operator.clone().unwrap_or_default(),
            service: r.service.clone().unwrap_or_default(),
            province: r.province.clone().unwrap_or_default(),
            commune: r.commune.clone().unwrap_or_default(),
            tags: r.tags.clone(),
        },
        severity: r.severity.clone().unwrap_or_else(|| "critical".to_string()),
        depends_on: r.depends_on.clone(),
        origin: Origin {
            file: ctx.file.to_path_buf(),
            line: {
                let at = key_offset(ctx.src, span.clone(), "id");
                ctx.line_at(at)
            },
        },
    })
}

fn resolve_auth(ctx: &mut Ctx<'_>, raw: Option<&Spanned<super::schema::RawAuth>>) -> AuthConfig {
    use super::schema::RawRole;
    let Some(raw) = raw else {
        return AuthConfig::default();
    };
    let mut tokens: Vec<Token> = Vec::new();
    for t in &raw.get_ref().tokens {
        let r = t.get_ref();
        let digest = parse_sha256(&r.sha256);
        if digest.is_none() {
            ctx.err_key(
                t.span(),
                "sha256",
                "must be the 64 hex digits of the token's SHA-256 (e.g. `printf %s TOKEN | sha256sum`)",
            );
        }
        if r.name.trim().is_empty() {
            ctx.err_key(
                t.span(),
                "name",
                "a token needs a name (it is recorded as the author of acknowledgements)",
            );
        }
        if tokens.iter().any(|o| o.name == r.name) {
            ctx.err_key(
                t.span(),
                "name",
                format!("duplicate token name `{}`", r.name),
            );
        }
        if let Some(sha256) = digest {
            if tokens.iter().any(|o| o.sha256 == sha256) {
                ctx.err_key(t.span(), "sha256", "two tokens have the same digest");
            }
            tokens.push(Token {
                name: r.name.clone(),
                role: match r.role {
                    RawRole::Viewer => Role::Viewer,
                    RawRole::Officer => Role::Officer,
                    RawRole::Admin => Role::Admin,
                },
                sha256,
            });
        }
    }
    AuthConfig {
        public: raw.get_ref().public.unwrap_or(true),
        tokens,
    }
}

fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn resolve_monitor(
    path: &Path,
    text: &str,
    raw: Option<&Spanned<super::schema::RawMonitor>>,
    targets: &[Target],
    errors: &mut Vec<ConfigError>,
) -> MonitorConfig {
    let Some(raw) = raw else {
        return MonitorConfig::default();
    };
    let line = key_line(text, raw.span(), "anchors");
    for a in &raw.get_ref().anchors {
        if !targets.iter().any(|t| &t.id == a) {
            errors.push(ConfigError::new(
                path,
                Some(line),
                Some("anchors"),
                format!("anchor `{a}` is not a configured target"),
            ));
        }
    }
    MonitorConfig {
        anchors: raw.get_ref().anchors.clone(),
    }
}

/// Checks that span targets: unique ids and dependencies that exist.
fn check_targets(targets: &[Target], errors: &mut Vec<ConfigError>) {
    let mut seen: HashMap<&str, &Origin> = HashMap::new();
    for t in targets {
        if let Some(first) = seen.get(t.id.as_str()) {
            errors.push(ConfigError::new(
                &t.origin.file,
                Some(t.origin.line),
                Some("id"),
                format!(
                    "duplicate target id `{}` (first defined at {}:{})",
                    t.id,
                    first.file.display(),
                    first.line
                ),
            ));
        } else {
            seen.insert(&t.id, &t.origin);
        }
    }
    report_cycles(targets, errors);
    for t in targets {
        for dep in &t.depends_on {
            if dep == &t.id {
                errors.push(ConfigError::new(
                    &t.origin.file,
                    Some(t.origin.line),
                    Some("depends_on"),
                    format!("target `{}` cannot depend on itself", t.id),
                ));
            } else if !seen.contains_key(dep.as_str()) {
                errors.push(ConfigError::new(
                    &t.origin.file,
                    Some(t.origin.line),
                    Some("depends_on"),
                    format!("target `{}` depends on unknown target `{dep}`", t.id),
                ));
            }
        }
    }
}

/// A dependency cycle would make every member explain every other's failure: refuse it.
fn report_cycles(targets: &[Target], errors: &mut Vec<ConfigError>) {
    let index: HashMap<&str, &Target> = targets.iter().map(|t| (t.id.as_str(), t)).collect();
    // 0 unvisited, 1 on the current path, 2 done.
    let mut mark: HashMap<&str, u8> = HashMap::new();
    for start in targets {
        if mark.get(start.id.as_str()).copied().unwrap_or(0) != 0 {
            continue;
        }
        // Iterative depth-first search: (node, next dependency to visit).
        let mut stack: Vec<(&Target, usize)> = vec![(start, 0)];
        mark.insert(&start.id, 1);
        while let Some((node, i)) = stack.pop() {
            if let Some(dep) = node.depends_on.get(i) {
                stack.push((node, i + 1));
                let Some(next) = index.get(dep.as_str()) else {
                    continue;
                };
                match mark.get(next.id.as_str()).copied().unwrap_or(0) {
                    0 => {
                        mark.insert(&next.id, 1);
                        stack.push((next, 0));
                    }
                    1 if next.id != node.id => {
                        let path: Vec<&str> = stack
                            .iter()
                            .map(|(t, _)| t.id.as_str())
                            .skip_while(|id| *id != next.id)
                            .collect();
                        errors.push(ConfigError::new(
                            &node.origin.file,
                            Some(node.origin.line),
                            Some("depends_on"),
                            format!("dependency cycle: {} -> {}", path.join(" -> "), next.id),
                        ));
                    }
                    _ => {}
                }
            } else {
                mark.insert(&node.id, 2);
            }
        }
    }
}
