//! The operating system's own accounting of a process: CPU time (user + system) from
//! `/proc/PID/stat`, resident and peak resident memory from `/proc/PID/status`, plus the
//! descriptor limit and signals the harness needs. Linux only, like the deployments.

use std::io;

/// CPU seconds (user + system, all threads) a process has used so far.
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces and parentheses: fields are counted after
    // its closing parenthesis, where field 3 (state) comes first.
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))?;
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> io::Result<f64> {
        f.get(n - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| io::Error::other(format!("no field {n} in /proc/PID/stat")))
    };
    // utime (14) and stime (15) are in clock ticks.
    Ok((field(14)? + field(15)?) / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a configuration value; it has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// Resident memory now and its peak (VmRSS, VmHWM), in bytes.
pub fn memory(pid: u32) -> io::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((kb("VmRSS:") * 1024, kb("VmHWM:") * 1024))
}

/// Asks a child to stop the way systemd would (SIGTERM).
pub fn terminate(pid: u32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: kill has no memory effects; the pid is our own child's.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_accounting() {
        let me = std::process::id();
        let before = cpu_seconds(me).unwrap();
        // Burn a little CPU so the counter has to move.
        let mut x: u64 = 1;
        let t = std::time::Instant::now();
        while t.elapsed().as_millis() < 300 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds(me).unwrap() > before);
        let (rss, hwm) = memory(me).unwrap();
        assert!(rss > 0 && hwm >= rss, "{rss} {hwm}");
    }
}
