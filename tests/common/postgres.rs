//! A throwaway, real PostgreSQL server for integration tests: one per test binary, started on
//! first use from Debian's binaries, in a fresh temp dir, on a free 127.0.0.1 port, with
//! password (SCRAM) authentication over TCP, and TLS offered on the same port (`ssl = on`, a
//! certificate for `127.0.0.1` and `localhost` signed by a CA made at start, whose certificate
//! is [`PgServer::ca_file`]; the `host` lines of pg_hba.conf accept TLS and plain TCP alike).
//! Each test takes its own database and login role from [`PgServer::database`]; chaos tests
//! crash and restart it with [`PgServer::kill`], [`PgServer::stop_fast`] and
//! [`PgServer::start_again`].
//!
//! Everything here is blocking and safe to call from `#[tokio::test]`: the sync `postgres`
//! client starts its own runtime (and panics inside another), so its work runs on a fresh
//! std thread that is joined.
//!
//! Chaos helpers act on the one server every test of the binary shares: a test that kills it
//! belongs in a test binary of its own, or must keep the other tests of its binary out while
//! the server is down (tests/postgres_harness.rs does so with a lock).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, mpsc};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::distr::Alphanumeric;

/// The superuser initdb creates (instead of `postgres`, so that code under test cannot lean on
/// the name of a default superuser).
pub const ADMIN_USER: &str = "commwatch_admin";

/// Where Debian's postgresql-N packages put the server binaries, one folder per major version.
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";

/// How long a start may take before the test fails with the server's log.
const READY_LIMIT: Duration = Duration::from_secs(30);

/// A running (or deliberately stopped) PostgreSQL server owned by this test binary.
pub struct PgServer {
    bin: PathBuf,
    /// Holds data/, sock/ and postgres.log; removed when the test binary exits.
    root: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    /// The CA that signed the server's certificate (PEM), for `sslmode = "verify-full"`.
    ca_file: PathBuf,
    /// The server's certificate and key, as `ssl_cert_file` and `ssl_key_file`.
    cert_file: PathBuf,
    key_file: PathBuf,
    port: u16,
    password: String,
    /// The `postgres` system user's uid and gid when this process is root: PostgreSQL refuses
    /// to run as root, and tests usually do.
    run_as: Option<(u32, u32)>,
    /// The postmaster, `None` after `kill`/`stop_fast`. Every start and stop holds the lock.
    child: Mutex<Option<Child>>,
    counter: AtomicU64,
}

/// A fresh database owned by a fresh login role, for one test.
pub struct TestDb {
    /// `postgres://ROLE@127.0.0.1:PORT/DB`, without the password.
    pub url: String,
    pub password: String,
    /// A file holding only the password (no newline), for configurations that read one.
    pub password_file: PathBuf,
    pub name: String,
    pub role: String,
    /// Keeps `password_file` for as long as the `TestDb` lives.
    _dir: tempfile::TempDir,
}

static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();

/// The test binary's server, started on the first call. A failed start fails every test that
/// asks, each with the same reason, instead of retrying initdb once per test.
pub fn server() -> &'static PgServer {
    let started = SERVER.get_or_init(|| {
        std::panic::catch_unwind(PgServer::start).map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the PostgreSQL test server did not start".to_string())
        })
    });
    match started {
        Ok(s) => s,
        Err(msg) => panic!("{msg}"),
    }
}

impl PgServer {
    fn start() -> PgServer {
        let bin = find_bin_dir();
        remove_stale_roots();
        let run_as = if is_root() {
            Some(postgres_user())
        } else {
            None
        };
        // The pid in the name lets a later run remove what a crashed run left behind.
        let root = tempfile::Builder::new()
            .prefix(&format!("commwatch-pg-{}-", std::process::id()))
            .tempdir()
            .expect("creating the PostgreSQL temp dir")
            // Removed at exit by `cleanup_at_exit` (statics are never dropped).
            .keep();
        let data_dir = root.join("data");
        let socket_dir = root.join("sock");
        let log_path = root.join("postgres.log");
        fs::create_dir(&socket_dir).unwrap();
        File::create(&log_path).unwrap();
        let password = random_token(32);
        let pwfile = root.join("pwfile");
        write_private(&pwfile, &password);
        let (ca_file, cert_file, key_file) = write_tls_files(&root);
        if let Some((uid, gid)) = run_as {
            // The server refuses a key file that its own user does not own (or that others
            // can read); write_private made it 0600.
            for p in [
                &root,
                &socket_dir,
                &log_path,
                &pwfile,
                &cert_file,
                &key_file,
            ] {
                chown(p, uid, gid);
            }
        }

        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data_dir)
            .args(["-U", ADMIN_USER])
            .arg(format!("--pwfile={}", pwfile.display()))
            // Passwords over TCP, the way a deployment connects; the socket sits in a 0700
            // directory of the server's user, so trust there is only for that user.
            .args(["--auth-host=scram-sha-256", "--auth-local=trust"])
            .args(["-E", "UTF8", "--locale=C"])
            // A throwaway cluster: no fsync of the new files, no "start it like this" text.
            .args(["--no-sync", "--no-instructions"]);
        prepare(&mut initdb, &root, run_as);
        let out = initdb.output().expect("running initdb");
        let _ = fs::remove_file(&pwfile);
        if !out.status.success() {
            let _ = fs::remove_dir_all(&root);
            panic!(
                "initdb failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        // Another process can take the port between our probe and the bind; pick again then.
        let mut last = String::new();
        for _ in 0..3 {
            let server = PgServer {
                bin: bin.clone(),
                root: root.clone(),
                data_dir: data_dir.clone(),
                socket_dir: socket_dir.clone(),
                log_path: log_path.clone(),
                ca_file: ca_file.clone(),
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
                port: free_port(),
                password: password.clone(),
                run_as,
                child: Mutex::new(None),
                counter: AtomicU64::new(0),
            };
            let mut slot = server.lock_child();
            match server.spawn_and_wait(&mut slot) {
                Ok(()) => {
                    drop(slot);
                    // SAFETY: registers a plain `extern "C"` function; nothing else is touched.
                    unsafe { libc::atexit(cleanup_at_exit) };
                    return server;
                }
                Err(e) => last = e,
            }
            drop(slot);
            if !last.contains("Address already in use") {
                break;
            }
        }
        let _ = fs::remove_dir_all(&root);
        panic!("{last}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's URL over TCP, without the password (see `admin_password`).
    pub fn admin_url(&self) -> String {
        format!("postgres://{ADMIN_USER}@127.0.0.1:{}/postgres", self.port)
    }

    /// The superuser's password, random for each run.
    pub fn admin_password(&self) -> &str {
        &self.password
    }

    /// The PEM certificate of the CA that signed the server's certificate (for `127.0.0.1` and
    /// `localhost`): the `ca_file` of `sslmode = "verify-full"`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The directory holding the server's unix socket (`-k`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The last 8 KiB of the server's log, for a failing test to print.
    pub fn log_tail(&self) -> String {
        tail(&self.log_path, 8 * 1024)
    }

    /// A new database owned by a new login role with a random password. The role owns the
    /// database and so its `public` schema, and may create tables there; other test roles
    /// cannot connect to it (CONNECT is revoked from PUBLIC).
    pub fn database(&self, name_hint: &str) -> TestDb {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let hint = sanitize(name_hint);
        let name = format!("{hint}_{n}");
        let role = format!("{name}_owner");
        let password = random_token(24);
        // CREATE DATABASE refuses to run inside a transaction: one statement per call.
        self.admin(
            "postgres",
            &[
                format!("CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'"),
                format!("CREATE DATABASE \"{name}\" OWNER \"{role}\""),
                format!("REVOKE CONNECT, TEMPORARY ON DATABASE \"{name}\" FROM PUBLIC"),
            ],
        );
        // Named like the server's dir, so that a crashed run's are removed the same way.
        let dir = tempfile::Builder::new()
            .prefix(&format!("commwatch-pg-{}-pw-", std::process::id()))
            .tempdir()
            .unwrap();
        let password_file = dir.path().join("password");
        write_private(&password_file, &password);
        TestDb {
            url: format!("postgres://{role}@127.0.0.1:{}/{name}", self.port),
            password,
            password_file,
            name,
            role,
            _dir: dir,
        }
    }

    /// Runs `sql` (one or more statements, simple query protocol) as the superuser in database
    /// `db`, and returns the rows of every statement as text (NULL as `None`), for tests that
    /// inspect or break things. Panics with the error and the log tail when it fails.
    pub fn run_sql(&self, db: &str, sql: &str) -> Vec<Vec<Option<String>>> {
        self.admin(db, &[sql.to_string()]).pop().unwrap_or_default()
    }

    /// A crash: SIGKILL the postmaster and every backend at once, and return when all of them
    /// are gone. Clients connected before get an error; committed data is on disk (fsync=off
    /// still writes it to the kernel, which outlives the processes).
    pub fn kill(&self) {
        let mut slot = self.lock_child();
        let mut child = slot
            .take()
            .expect("kill: the PostgreSQL test server is not running");
        kill_postmaster(&mut child);
    }

    /// A fast shutdown (SIGINT): backends end, the server checkpoints and exits.
    pub fn stop_fast(&self) {
        let mut slot = self.lock_child();
        let mut child = slot
            .take()
            .expect("stop_fast: the PostgreSQL test server is not running");
        // SAFETY: signals our own child, whose pid cannot be reused until we reap it.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            if child.try_wait().unwrap().is_some() {
                return;
            }
            if Instant::now() > deadline {
                kill_postmaster(&mut child);
                panic!(
                    "the PostgreSQL test server did not stop within {READY_LIMIT:?}; log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the same data directory on the same port again after `kill` or `stop_fast` (a
    /// killed server runs crash recovery first), and returns once it answers queries.
    pub fn start_again(&self) {
        let mut slot = self.lock_child();
        if let Some(c) = slot.as_mut()
            && c.try_wait().unwrap().is_none()
        {
            panic!("start_again: the PostgreSQL test server is already running");
        }
        *slot = None;
        if let Err(e) = self.spawn_and_wait(&mut slot) {
            panic!("{e}");
        }
    }

    /// Whether the postmaster is running (not killed, stopped or crashed).
    pub fn is_running(&self) -> bool {
        let mut slot = self.lock_child();
        slot.as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// A panic while the lock was held (a failed start) must not hide the server from the
    /// tests after it.
    fn lock_child(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Spawns the postmaster into `slot` and waits until it answers a query as the superuser
    /// over TCP (so the port, the password and the catalog all work).
    fn spawn_and_wait(&self, slot: &mut Option<Child>) -> Result<(), String> {
        let log = OpenOptions::new()
            .append(true)
            .open(&self.log_path)
            .map_err(|e| format!("opening {}: {e}", self.log_path.display()))?;
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-k")
            .arg(&self.socket_dir)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            // Speed: nothing here must survive a machine crash. synchronous_commit stays on:
            // with it off, a commit returns before its WAL leaves shared memory, and `kill`
            // (all processes gone) would lose the last commits; with fsync=off it costs only
            // a write(2) per commit.
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=200"])
            .args(["-c", "ssl=on"])
            .arg("-c")
            .arg(format!("ssl_cert_file={}", self.cert_file.display()))
            .arg("-c")
            .arg(format!("ssl_key_file={}", self.key_file.display()))
            .args(["-c", "logging_collector=off"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        prepare(&mut cmd, &self.root, self.run_as);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: prctl and getppid/raise are async-signal-safe, as pre_exec requires.
        unsafe {
            cmd.pre_exec(move || {
                // The server dies with the test binary. The signal fires when the *thread*
                // that forked exits, hence `spawn_on_keeper`. Set here, after the uid change
                // (which clears it), just before exec.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The test binary may have exited between fork and prctl.
                if libc::getppid() != parent {
                    libc::raise(libc::SIGQUIT);
                }
                Ok(())
            });
        }
        let child = spawn_on_keeper(cmd).map_err(|e| format!("starting postgres: {e}"))?;
        *slot = Some(child);
        let child = slot.as_mut().unwrap();

        let deadline = Instant::now() + READY_LIMIT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                *slot = None;
                return Err(format!(
                    "postgres exited ({status}) before accepting connections; log:\n{}",
                    self.log_tail()
                ));
            }
            let ping = off_runtime(|| {
                let mut c = self.admin_config("postgres");
                c.connect_timeout(Duration::from_secs(2));
                c.connect(postgres::NoTls)
                    .and_then(|mut c| c.simple_query("SELECT 1"))
                    .map(|_| ())
            });
            if ping.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let mut child = slot.take().unwrap();
                kill_postmaster(&mut child);
                return Err(format!(
                    "postgres did not accept connections within {READY_LIMIT:?} (last: {}); log:\n{}",
                    ping.unwrap_err(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn admin_config(&self, db: &str) -> postgres::Config {
        let mut c = postgres::Config::new();
        c.host("127.0.0.1")
            .port(self.port)
            .user(ADMIN_USER)
            .password(&self.password)
            .dbname(db)
            .connect_timeout(Duration::from_secs(10));
        c
    }

    /// Runs each statement in turn as the superuser; the rows of each, as text.
    fn admin(&self, db: &str, statements: &[String]) -> Vec<Vec<Vec<Option<String>>>> {
        let res = off_runtime(|| {
            let mut client = self.admin_config(db).connect(postgres::NoTls)?;
            let mut all = Vec::new();
            for sql in statements {
                let mut rows = Vec::new();
                for m in client.simple_query(sql)? {
                    if let postgres::SimpleQueryMessage::Row(r) = m {
                        rows.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
                    }
                }
                all.push(rows);
            }
            Ok::<_, postgres::Error>(all)
        });
        res.unwrap_or_else(|e| {
            panic!(
                "admin SQL in database {db:?} failed: {e}\nstatements: {statements:?}\nlog:\n{}",
                self.log_tail()
            )
        })
    }
}

impl TestDb {
    /// Connection settings for this database's role, password included.
    pub fn config(&self) -> postgres::Config {
        let mut c: postgres::Config = self.url.parse().unwrap();
        c.password(&self.password)
            .connect_timeout(Duration::from_secs(10));
        c
    }
}

/// Runs `f` on a fresh std thread and joins it: the sync `postgres` client panics when called
/// on a thread that is inside a tokio runtime, which `#[tokio::test]` bodies are.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    })
}

/// A CA made for this run and a server certificate it signs for `127.0.0.1` and `localhost`,
/// written into `root/tls/`: (CA certificate, server certificate, server key), all PEM.
pub fn write_tls_files(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let dir = root.join("tls");
    fs::create_dir(&dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().expect("generating the test CA's key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "commwatch PostgreSQL test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("signing the test CA");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().expect("generating the server's key");
    let mut leaf =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "127.0.0.1");
    let cert = leaf
        .signed_by(&key, &issuer)
        .expect("signing the server's certificate");
    let (ca_file, cert_file, key_file) = (
        dir.join("ca.pem"),
        dir.join("server.crt"),
        dir.join("server.key"),
    );
    fs::write(&ca_file, ca_cert.pem()).unwrap();
    fs::write(&cert_file, cert.pem()).unwrap();
    write_private(&key_file, &key.serialize_pem());
    (ca_file, cert_file, key_file)
}

/// Debian's server binaries of the highest installed major version.
fn find_bin_dir() -> PathBuf {
    let missing = |why: String| -> ! {
        let ci = if std::env::var_os("CI").is_some() {
            " (CI is set: the PostgreSQL tests must run)"
        } else {
            ""
        };
        panic!(
            "PostgreSQL server binaries not found: {why}. Install the Debian package \
             `postgresql` (./test installs it from .ci/packages.txt){ci}"
        )
    };
    let entries = fs::read_dir(DEBIAN_PG_ROOT)
        .unwrap_or_else(|e| missing(format!("cannot read {DEBIAN_PG_ROOT}: {e}")));
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            // "15", "16", or "9.6" on old releases.
            let v: Vec<u32> = e
                .file_name()
                .to_str()?
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((v, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => missing(format!(
            "no {DEBIAN_PG_ROOT}/<version>/bin with initdb and postgres"
        )),
    }
}

/// The same set-up for initdb and postgres: run as `run_as`, from a directory that user can
/// read (PostgreSQL resolves its own path from the working directory), with a plain locale.
fn prepare(cmd: &mut Command, root: &Path, run_as: Option<(u32, u32)>) {
    cmd.current_dir(root)
        .env("LC_ALL", "C")
        .env_remove("PGDATA");
    if let Some((uid, gid)) = run_as {
        // std drops root's supplementary groups before setuid.
        cmd.uid(uid).gid(gid);
    }
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns on a thread that never exits, so that PR_SET_PDEATHSIG (which fires when the
/// forking *thread* ends) fires only when the test binary itself does; test threads end after
/// each test.
fn spawn_on_keeper(cmd: Command) -> io::Result<Child> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("postgres-keeper".into())
            .spawn(move || {
                // The sender lives in a static, so `recv` never fails and the thread lives on.
                while let Ok((mut cmd, reply)) = rx.recv() {
                    let _ = reply.send(cmd.spawn());
                }
                loop {
                    std::thread::park();
                }
            })
            .expect("starting the postgres keeper thread");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, tx))
        .map_err(|_| io::Error::other("the postgres keeper thread is gone"))?;
    rx.recv()
        .map_err(|_| io::Error::other("the postgres keeper thread is gone"))?
}

/// SIGKILL the postmaster and all its children and wait until none of them is left. The
/// backends are killed too (not left to notice the postmaster's death on their own): one that
/// lingers keeps the shared memory attached, and the next postmaster refuses to start on it.
fn kill_postmaster(child: &mut Child) {
    let pid = child.id() as libc::pid_t;
    if child.try_wait().unwrap().is_some() {
        return;
    }
    // Stopped first, so it forks no new backend between the listing and the kill.
    // SAFETY: signals our own unreaped child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc_stat(pid).is_some_and(|s| s.state != 'T' && s.state != 'Z')
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    let kids = children(pid);
    for k in &kids {
        // SAFETY: a child of the stopped postmaster; it cannot be reaped (and its pid reused)
        // before the postmaster dies, and we check start times when waiting below.
        unsafe { libc::kill(k.pid, libc::SIGKILL) };
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    for k in &kids {
        // Gone, a zombie (memory released), or the pid now belongs to another process.
        while proc_stat(k.pid).is_some_and(|s| s.state != 'Z' && s.start_time == k.start_time) {
            assert!(
                Instant::now() < deadline,
                "postgres backend {} outlived SIGKILL",
                k.pid
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

struct ProcStat {
    pid: libc::pid_t,
    state: char,
    ppid: libc::pid_t,
    start_time: u64,
}

/// Fields of /proc/PID/stat; the command name is in parentheses and may hold spaces.
fn proc_stat(pid: libc::pid_t) -> Option<ProcStat> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.get(s.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split(' ').collect();
    // After the name: state(3) ppid(4) ... starttime(22), numbered as in proc(5).
    Some(ProcStat {
        pid,
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        start_time: f.get(19)?.parse().ok()?,
    })
}

fn children(parent: libc::pid_t) -> Vec<ProcStat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(proc_stat)
        .filter(|s| s.ppid == parent)
        .collect()
}

/// Removes the temp dirs of earlier runs whose test binary is gone (one that crashed or was
/// killed did not get to its exit handler).
fn remove_stale_roots() {
    let Ok(dir) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("commwatch-pg-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            remove_shared_memory(&e.path().join("data"));
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Removes the System V shared memory segment that a killed postmaster of `data_dir` left
/// (its id is on line 7 of postmaster.pid), when nothing is attached to it any more.
fn remove_shared_memory(data_dir: &Path) {
    let Ok(pidfile) = fs::read_to_string(data_dir.join("postmaster.pid")) else {
        return;
    };
    let Some(shmid) = pidfile
        .lines()
        .nth(6)
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|id| id.parse::<libc::c_int>().ok())
    else {
        return;
    };
    // SAFETY: shmid_ds is plain data; shmctl only writes into it.
    unsafe {
        let mut ds: libc::shmid_ds = std::mem::zeroed();
        if libc::shmctl(shmid, libc::IPC_STAT, &mut ds) == 0 && ds.shm_nattch == 0 {
            libc::shmctl(shmid, libc::IPC_RMID, std::ptr::null_mut());
        }
    }
}

/// Runs when the test binary exits: the server goes (SIGQUIT from PDEATHSIG would come too
/// late for the removal) and so does its temp dir.
extern "C" fn cleanup_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        let Some(Ok(server)) = SERVER.get() else {
            return;
        };
        // A test thread may still hold the lock if a test timed out; leave the server then.
        if let Ok(mut slot) = server.child.try_lock() {
            if let Some(mut child) = slot.take() {
                // An immediate shutdown (SIGQUIT), not SIGKILL: the postmaster then removes
                // its System V shared memory segment, which would otherwise outlive it.
                // SAFETY: signals our own unreaped child.
                unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGQUIT) };
                let deadline = Instant::now() + Duration::from_secs(5);
                while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                kill_postmaster(&mut child);
            }
            remove_shared_memory(&server.data_dir);
            let _ = fs::remove_dir_all(&server.root);
        }
    });
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The `postgres` system user that Debian's postgresql-common creates.
fn postgres_user() -> (u32, u32) {
    let name = c"postgres";
    // SAFETY: passwd is plain data (integers and pointers), for which all-zero is valid.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf` outlives the use of `pw`.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    assert!(
        rc == 0 && !result.is_null(),
        "running as root, but there is no `postgres` system user to run PostgreSQL as \
         (PostgreSQL refuses root; the Debian package `postgresql` creates the user)"
    );
    (pw.pw_uid, pw.pw_gid)
}

fn chown(path: &Path, uid: u32, gid: u32) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    let rc = unsafe { libc::chown(c.as_ptr(), uid, gid) };
    assert!(
        rc == 0,
        "chown {} to {uid}:{gid}: {}",
        path.display(),
        io::Error::last_os_error()
    );
}

fn write_private(path: &Path, text: &str) {
    let mut f = File::create(path).unwrap();
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// `[a-z0-9_]`, starting with a letter, short enough that `<hint>_<n>_owner` stays within
/// PostgreSQL's 63-byte identifiers.
fn sanitize(hint: &str) -> String {
    let mut s: String = hint
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s.insert_str(0, "db_");
    }
    s
}

fn free_port() -> u16 {
    // Bound and released: the OS does not hand the same port out again right away.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("picking a free port")
        .port()
}

fn tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}
