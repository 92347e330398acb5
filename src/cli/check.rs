//! `commwatch check -c FILE`: validates a configuration and says what it implies for a storm
//! (how many probes may hold sockets at once, and whether the open-files limit allows it).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;

/// Exit 0 with a summary when the file is valid, 1 with every problem when it is not.
pub fn run(path: &Path) -> ExitCode {
    match super::load(path) {
        Ok(c) => {
            print!("{}", summary(path, &c));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// What `check` prints for a valid configuration: the target count, the probe cap and the
/// warnings a storm would turn into late outages.
pub fn summary(path: &Path, c: &Config) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let n = c.targets.len();
    let _ = writeln!(
        out,
        "{}: ok, {n} {}",
        path.display(),
        if n == 1 { "target" } else { "targets" }
    );
    if n == 0 {
        let _ = writeln!(
            out,
            "warning: no targets: commwatch would watch nothing; add [[targets]] tables or an include"
        );
    }
    match &c.storage.backend {
        crate::config::StorageBackend::Sqlite => {
            let _ = writeln!(out, "  store: sqlite {}", c.storage.path.display());
        }
        crate::config::StorageBackend::Postgres(pg) => {
            let _ = writeln!(
                out,
                "  store: postgres {} (sslmode {}; `commwatch store check` connects and checks the schema)",
                pg.display_url(),
                pg.sslmode.as_str()
            );
        }
    }
    let (cap, storm) = (c.probe_cap(), c.storm_sockets());
    let how = if c.scheduler.max_concurrency.is_some() {
        "max_concurrency"
    } else {
        "sized for a storm"
    };
    let _ = writeln!(
        out,
        "  probes holding sockets at once: at most {cap} ({how}); {storm} if every endpoint timed out"
    );
    if cap < storm {
        let _ = writeln!(
            out,
            "warning: max_concurrency = {cap} is below {storm}: in a storm probes would queue and outages be seen late"
        );
    }
    // `run` raises the soft open-files limit to the hard one, then fits the cap.
    if let Ok((_, hard)) = crate::limits::nofile_limits() {
        let fits = crate::limits::fit_concurrency(cap, hard);
        if fits < cap {
            let _ = writeln!(
                out,
                "warning: the open-files limit ({hard}) leaves room for {fits} probe sockets, not {cap}; raise it (systemd: LimitNOFILE)"
            );
        }
    }
    out
}
