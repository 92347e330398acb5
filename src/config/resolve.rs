//! Turns the raw schema into a validated [`Config`]: applies defaults, expands includes and
//! collects every error with its file, line and key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, ConfigErrors, from_toml, key_line, line_of};
use super::schema::{RawInclude, RawRoot};
use super::sections::{
    resolve_auth, resolve_defaults, resolve_monitor, resolve_scheduler, resolve_server,
};
use super::target::resolve_target;
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
    let instance = super::instance::resolve_instance(&mut ctx, raw.instance.as_ref());
    let storage = super::storage::resolve_storage(&mut ctx, raw.storage.as_ref());
    let mut defaults = resolve_defaults(&mut ctx, raw.defaults.as_ref());
    defaults.source_address = instance.source_address;
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
            instance,
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
