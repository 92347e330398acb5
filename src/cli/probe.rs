//! `commwatch probe -c FILE ID [--json]`: probes one configured target once and prints every
//! fact and check, exit 0 when it passed.

use std::path::Path;
use std::process::ExitCode;

use crate::probe::{PortalProfiles, Prober};

pub async fn run(path: &Path, target: &str, json: bool) -> ExitCode {
    let cfg = match super::load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(t) = cfg.target(target) else {
        eprintln!("commwatch: no target `{target}` in {}", path.display());
        return ExitCode::from(2);
    };
    // The daemon's learned portal profiles are read, never written: a one-shot probe beside a
    // running daemon must not change what it learned.
    let prober = match Prober::new() {
        Ok(p) => p.with_portal_profiles(PortalProfiles::read_only(cfg.storage.portal_dir())),
        Err(e) => {
            eprintln!("commwatch: {e}");
            return ExitCode::from(1);
        }
    };
    let obs = prober.run_from(&t.spec, t.timeout, t.source_address).await;
    let sample = t.judge(&obs);
    if json {
        let out = serde_json::json!({
            "target": t.id,
            "kind": t.kind(),
            "endpoint": t.spec.endpoint(),
            "ok": sample.ok,
            "degraded": sample.degraded,
            "observation": obs,
            "checks": sample.checks,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print!("{}", t.describe(&obs, &sample));
    }
    if sample.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
