//! The process's descriptor limit, and the probe concurrency that fits in it. Every HTTP,
//! TCP, DNS, TLS or SIP probe in flight holds a socket; a probe that cannot open one fails
//! with "too many open files", which would read as an outage that is not there.

use std::io;

/// The soft and hard descriptor limits.
pub fn nofile_limits() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// Raises the soft descriptor limit to the hard one (a shell often starts at 1,024 while the
/// hard limit is far higher; systemd's `LimitNOFILE` sets both) and returns the soft limit
/// in force afterwards. When the kernel refuses the raise (an unlimited hard limit is above
/// what it allows), the soft limit stays as it was and is returned.
pub fn raise_nofile() -> io::Result<u64> {
    let (soft, hard) = nofile_limits()?;
    if soft < hard {
        let lim = libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        };
        // SAFETY: `lim` is a valid rlimit; raising the soft limit up to the hard one is allowed.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
            return Ok(hard);
        }
        tracing::warn!(
            soft,
            hard,
            error = %io::Error::last_os_error(),
            "cannot raise the open-files limit; keeping the soft one"
        );
    }
    Ok(soft)
}

/// Descriptors kept for everything but probes: the store, the listener, page and SSE
/// clients, scrapes, receivers, logs. A quarter of the limit, at most 1,024.
fn reserved(nofile: u64) -> u64 {
    (nofile / 4).min(1_024)
}

/// The probe concurrency to run with: `wanted`, unless the descriptor limit `nofile` cannot
/// hold it, then what it can (at least one).
pub fn fit_concurrency(wanted: usize, nofile: u64) -> usize {
    let room = usize::try_from(nofile.saturating_sub(reserved(nofile))).unwrap_or(usize::MAX);
    wanted.min(room).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_fits_the_descriptor_limit() {
        assert_eq!(fit_concurrency(256, 1_024), 256);
        assert_eq!(fit_concurrency(2_000, 1_024), 768);
        assert_eq!(fit_concurrency(20_000, 65_536), 20_000);
        assert_eq!(fit_concurrency(70_000, 65_536), 64_512);
        assert_eq!(fit_concurrency(10, 0), 1);
        assert!(raise_nofile().unwrap() >= 64);
    }
}
