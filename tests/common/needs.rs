//! What a test needs from the machine beyond cargo (root for raw sockets, mounts and network
//! namespaces), and what happens when it is missing: with `CI` set the test fails and says why,
//! so a green run always means the test ran; elsewhere it says why on stderr and returns early.

/// Whether the effective user is root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
    })
}

/// True when the test may go on as root. Not root: under CI a panic naming `why`; otherwise a
/// line written straight to the process's stderr. The test harness captures `eprintln!` of a
/// passing test, so the line is written through `io::stderr()` itself, which it does not capture.
pub fn root(test: &str, why: &str) -> bool {
    if is_root() {
        return true;
    }
    missing(format!(
        "{test} needs root ({why}); run the tests as root (./test does, or sudo)"
    ))
}

/// Debian's Python, which the Debian packages of Python modules install into.
pub const PYTHON: &str = "/usr/bin/python3";

/// True when [`PYTHON`] can import `module`, from the Debian package `package`. Missing: as
/// for [`root`], a panic under CI, a NOT RUN line otherwise.
pub fn python_module(test: &str, module: &str, package: &str) -> bool {
    let found = std::process::Command::new(PYTHON)
        .args(["-c", &format!("import {module}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    missing(format!(
        "{test} needs the Python module `{module}` in {PYTHON}; install the Debian package \
         `{package}` (./test installs it from .ci/packages.txt)"
    ))
}

fn missing(msg: String) -> bool {
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "NOT RUN: {msg}");
    false
}

/// The path of `program` (on `PATH`, or in /usr/sbin and /sbin, where Debian puts daemons),
/// when it is installed. Missing: under CI a panic naming the Debian `package` that has it;
/// otherwise a NOT RUN line on stderr and `None`, so the test returns early and says why.
pub fn tool(test: &str, program: &str, package: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file());
    if found.is_some() {
        return found;
    }
    let msg = format!(
        "{test} needs `{program}` (Debian package `{package}`; ./test installs it from .ci/packages.txt)"
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "NOT RUN: {msg}");
    None
}
