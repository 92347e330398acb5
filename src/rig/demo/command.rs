//! The `commwatch demo` command: runs a [`Demo`] from start to report, printing where to look.

use std::future::Future;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use super::{Demo, DemoArgs, DemoError};
use crate::rig::inventory::ProbeKind;

/// `commwatch demo`: runs the demo, printing where to look; `signal` (Ctrl-C) ends the drill
/// early, or ends the serving after the report.
pub async fn main(args: DemoArgs, signal: impl Future<Output = ()> + Send + 'static) -> ExitCode {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        signal.await;
        on_signal.cancel();
    });
    match run(&args, &cancel).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("commwatch demo: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: &DemoArgs, cancel: &CancellationToken) -> Result<(), DemoError> {
    let opts = args.options();
    let demo = Demo::start(opts).await?;
    let pace = demo.pace();
    let l = demo.layout();
    println!(
        "commwatch demo: a storm over {} (simulated on loopback, 127.42.x.x)",
        l.province
    );
    println!(
        "  {} communes, {} targets: {} operator/service endpoints ({} DNS resolvers), {} power zones",
        l.inventory.communes,
        l.target_count(),
        l.inventory.entries.len(),
        l.inventory.count(ProbeKind::Dns),
        l.zones.len()
    );
    println!("  status page   {}/", demo.url());
    if demo.addr().ip().is_unspecified() {
        println!(
            "                (listening on {}: open it from the local network too)",
            demo.addr()
        );
    }
    println!(
        "  admin token   {}  (sign in at /login to write notes)",
        demo.admin_token()
    );
    println!("  data folder   {}", demo.data().display());
    println!(
        "  timeline      {} warm-up, then a {} drill probing every {}",
        humantime::format_duration(pace.warmup()),
        humantime::format_duration(pace.drill()),
        humantime::format_duration(pace.unit)
    );
    let result = play_through(&demo, cancel).await;
    if result.is_ok() && !args.exit_after_report && !cancel.is_cancelled() {
        println!(
            "still serving {}/ with the storm over; Ctrl-C to stop",
            demo.url()
        );
        cancel.cancelled().await;
    }
    demo.shutdown().await;
    result
}

async fn play_through(demo: &Demo, cancel: &CancellationToken) -> Result<(), DemoError> {
    println!("warming up: every target is probed a few times before the drill starts");
    if !demo.warm_up(cancel).await {
        return Ok(());
    }
    let drill = demo.start_drill().await?;
    println!("drill {} started: {}", drill.id, drill.name);
    println!("  report when it ends: {}/drills/{}", demo.url(), drill.id);
    let played = demo.play(&drill, cancel, true).await?;
    let files = demo.write_report(&played).await?;
    for f in &files.report {
        println!("report written: {}", f.display());
    }
    println!("truth of the storm: {}", files.truth.display());
    println!(
        "alerts received by the demo's webhook: {} ({})",
        demo.collector().received().len(),
        files.alerts.display()
    );
    Ok(())
}
