//! The split deployment as child processes of this one: its own PostgreSQL
//! and nats-server (one, or three clustered on loopback) on ephemeral ports
//! in a temporary folder, and `yuetan serve <service>` processes — the
//! platform and the portal once, every consumer-driven service twice — each
//! with its own ports and log. Every process can be killed and restarted
//! (PostgreSQL with a fast shutdown on the same data folder and port, NATS
//! on the same store and port); a supervisor restarts a service process
//! that exits by itself (a relay abort, a crash) and counts it.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sqlx::{Connection, Executor, PgConnection};
use yuetan_platform::client::{ClientSettings, Routed};
use yuetan_platform::Config;
use yuetan_testkit::peers::{EgovPeer, EgovPeerConfig, SmsPeer, SmsPeerConfig, SmtpPeer};

/// The consumer-driven services, run twice each.
pub const REPLICATED: &[&str] = &["intake", "review", "scheduling", "rectification", "supervision"];
/// The database schemas of the services (each with outbox, inbox, dead letters, audit).
pub const SCHEMAS: &[&str] = &["platform", "intake", "review", "scheduling", "rectification", "supervision", "portal"];

/// How to build the deployment.
#[derive(Debug, Clone)]
pub struct Options {
    /// The built `yuetan` binary.
    pub yuetan_bin: PathBuf,
    /// The base configuration (deploy/local/yuetan.toml); each process
    /// gets its addresses through `YUETAN_…` variables.
    pub config_file: PathBuf,
    /// Replicas of each consumer-driven service.
    pub replicas: usize,
    /// `YUETAN_FAULT_RELAY_ABORT` for the first replica of each service (0: none).
    pub relay_abort: f64,
    /// Three clustered nats-servers (stream replicas 3) instead of one.
    pub cluster: bool,
    /// Extra `YUETAN_…` settings for every service process.
    pub extra_env: Vec<(String, String)>,
    /// Keep the temporary folder (logs) after the run.
    pub keep: bool,
}

/// One `yuetan serve` process.
#[derive(Debug)]
pub struct Proc {
    /// `intake-1`, `portal-1`, …
    pub name: String,
    pub service: String,
    pub grpc_port: u16,
    pub metrics_port: u16,
    pub http_port: Option<u16>,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// When a killed process is to be started again.
    restart_at: Option<Instant>,
    /// Exits this run did not cause (relay aborts, crashes): (signal or code).
    pub unexpected_exits: Vec<String>,
    /// Exits with an error within 15 s of a start (a dependency such as
    /// NATS not answering yet); the supervisor starts the process again.
    pub start_exits: Vec<String>,
    started_at: Option<Instant>,
    pub starts: u32,
}

impl Proc {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A nats-server of the deployment (one, or one of three).
#[derive(Debug)]
pub struct Nats {
    pub name: String,
    pub port: u16,
    pub monitor_port: u16,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

#[derive(Debug)]
struct Postgres {
    port: u16,
    command: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

/// The running deployment.
pub struct Deployment {
    pub options: Options,
    pub root: PathBuf,
    /// Superuser URL of the deployment's database `yuetan`.
    pub admin_url: String,
    /// The migration owner's URL (`database.owner_url`).
    pub owner_url: String,
    /// The services' role (`database.url`).
    pub app_url: String,
    /// The NATS URL(s) the services use (comma-separated in cluster mode).
    pub nats_url: String,
    /// Each service's gRPC URLs (`[client] endpoints`).
    pub endpoints: BTreeMap<String, Vec<String>>,
    /// The portal's base URL.
    pub portal_base: String,
    /// The base configuration with this deployment's addresses (auth keys for tokens).
    pub config: Config,
    /// The SMS provider peer (libs/testkit) the services send through; it
    /// pushes delivery reports to the portal's `/callbacks/sms`.
    pub sms: Arc<SmsPeer>,
    /// The e-delivery platform peer: acknowledges each delivery to the
    /// portal's `/callbacks/egov` (the callback URL scheduling sends).
    pub egov: Arc<EgovPeer>,
    /// The SMTP server peer (Debian's python3-aiosmtpd): a message it
    /// accepts has reached the party's system (served, LAW.md §3).
    pub smtp: Arc<SmtpPeer>,
    pub procs: Arc<Mutex<Vec<Proc>>>,
    pub nats: Arc<Mutex<Vec<Nats>>>,
    postgres: Arc<Mutex<Postgres>>,
    common_env: Vec<(String, String)>,
    supervisor: Option<tokio::task::JoinHandle<()>>,
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding an ephemeral port")?;
    Ok(listener.local_addr()?.port())
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1)).map(|u| u == "0"))
        .unwrap_or(false)
}

fn as_pg_user() -> Vec<String> {
    if running_as_root() {
        ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"].iter().map(|s| s.to_string()).collect()
    } else {
        Vec::new()
    }
}

fn spawn_logged(argv: &[String], env: &[(String, String)], log: &Path) -> Result<Child> {
    let out = OpenOptions::new().create(true).append(true).open(log).with_context(|| format!("opening {}", log.display()))?;
    let err = out.try_clone()?;
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).stdin(Stdio::null()).stdout(out).stderr(err);
    for (k, v) in env {
        command.env(k, v);
    }
    command.spawn().with_context(|| format!("spawning {}", argv.join(" ")))
}

/// Sends `signal` (a name such as `INT`) to `pid` with kill(1).
pub fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).stderr(Stdio::null()).status();
}

pub async fn port_open(port: u16) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_millis(300), tokio::net::TcpStream::connect(("127.0.0.1", port))).await,
        Ok(Ok(_))
    )
}

async fn wait_port(port: u16, what: &str, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !port_open(port).await {
        if Instant::now() > deadline {
            bail!("{what} does not listen on 127.0.0.1:{port} after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

impl Deployment {
    /// Starts PostgreSQL, NATS and every service process; returns when all listen.
    pub async fn start(options: Options) -> Result<Deployment> {
        let root = tempfile::Builder::new().prefix("yuetan-chaos-").tempdir()?.keep();
        std::fs::create_dir_all(root.join("logs"))?;
        std::fs::create_dir_all(root.join("objects"))?;
        std::fs::create_dir_all(root.join("recordings"))?;

        // PostgreSQL: initdb as `postgres` when we are root.
        let pg_dir = root.join("pg");
        std::fs::create_dir_all(&pg_dir)?;
        if running_as_root() {
            Command::new("chown").args(["-R", "postgres:postgres"]).arg(&pg_dir).status()?;
            // The postgres user must traverse the temporary folder.
            Command::new("chmod").arg("755").arg(&root).status()?;
        }
        let bin = yuetan_testkit::find_pg_bin()?;
        let data = pg_dir.join("data");
        let mut initdb = as_pg_user();
        initdb.push(bin.join("initdb").display().to_string());
        initdb.extend(["-D", &data.display().to_string(), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"].map(String::from));
        let out = Command::new(&initdb[0]).args(&initdb[1..]).output().context("initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let pg_port = free_port()?;
        let mut pg_cmd = as_pg_user();
        pg_cmd.push(bin.join("postgres").display().to_string());
        pg_cmd.extend(["-D", &data.display().to_string(), "-p", &pg_port.to_string(), "-h", "127.0.0.1", "-k", &pg_dir.display().to_string()].map(String::from));
        // fsync off: the run restarts PostgreSQL cleanly (fast shutdown), it
        // never cuts the machine's power; durability of the disk is not what it tests.
        for setting in ["max_connections=500", "shared_buffers=128MB", "fsync=off", "full_page_writes=off"] {
            pg_cmd.push("-c".into());
            pg_cmd.push(setting.into());
        }
        let pg_log = root.join("logs/postgres.log");
        let child = spawn_logged(&pg_cmd, &[], &pg_log)?;
        let postgres = Postgres { port: pg_port, command: pg_cmd, log: pg_log, child: Some(child) };
        let server_admin = format!("postgres://postgres@127.0.0.1:{pg_port}/postgres");
        wait_postgres(&server_admin, Duration::from_secs(60)).await?;
        let mut admin = PgConnection::connect(&server_admin).await?;
        for role in ["chaos_owner", "chaos_app"] {
            admin.execute(format!("CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT").as_str()).await?;
        }
        admin.execute("CREATE DATABASE yuetan OWNER chaos_owner").await?;
        admin.close().await?;
        let url = |role: &str| format!("postgres://{role}@127.0.0.1:{pg_port}/yuetan");
        let mut db = PgConnection::connect(&url("postgres")).await?;
        db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC").await?;
        db.close().await?;

        // NATS: one server, or three in a cluster.
        let nats_bin = yuetan_testkit::find_nats_server()?.display().to_string();
        let count = if options.cluster { 3 } else { 1 };
        let ports: Vec<(u16, u16, u16)> = (0..count).map(|_| Ok((free_port()?, free_port()?, free_port()?))).collect::<Result<_>>()?;
        let mut nats = Vec::new();
        for (i, (port, cluster_port, monitor_port)) in ports.iter().enumerate() {
            let name = format!("nats-{}", i + 1);
            let dir = root.join(&name);
            std::fs::create_dir_all(&dir)?;
            let mut conf = format!(
                "server_name: {name}\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{monitor_port}\njetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n",
                dir.join("js").display()
            );
            if options.cluster {
                let routes: Vec<String> = ports.iter().map(|(_, c, _)| format!("nats-route://127.0.0.1:{c}")).collect();
                conf.push_str(&format!("cluster {{\n  name: chaos\n  listen: 127.0.0.1:{cluster_port}\n  routes: [{}]\n}}\n", routes.join(", ")));
            }
            let conf_file = dir.join("nats.conf");
            std::fs::write(&conf_file, conf)?;
            let args = vec![nats_bin.clone(), "-c".into(), conf_file.display().to_string()];
            let log = root.join(format!("logs/{name}.log"));
            let child = spawn_logged(&args, &[], &log)?;
            nats.push(Nats { name, port: *port, monitor_port: *monitor_port, args, log, child: Some(child) });
        }
        for n in &nats {
            wait_port(n.port, &n.name, Duration::from_secs(30)).await?;
        }
        // JetStream ready (in a cluster: its meta group has a leader).
        for n in &nats {
            wait_healthy(n.monitor_port, &n.name, Duration::from_secs(60)).await?;
        }
        let nats_url = nats.iter().map(|n| format!("nats://127.0.0.1:{}", n.port)).collect::<Vec<_>>().join(",");

        // The service processes and their ports.
        let mut plan: Vec<(String, String)> = vec![("platform".into(), "platform-1".into())];
        for service in REPLICATED {
            for r in 1..=options.replicas {
                plan.push((service.to_string(), format!("{service}-{r}")));
            }
        }
        plan.push(("portal".into(), "portal-1".into()));
        let mut procs = Vec::new();
        let mut endpoints: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (service, name) in &plan {
            let grpc_port = free_port()?;
            let metrics_port = free_port()?;
            let http_port = if service == "portal" { Some(free_port()?) } else { None };
            if service != "portal" {
                endpoints.entry(service.clone()).or_default().push(format!("http://127.0.0.1:{grpc_port}"));
            }
            procs.push(Proc {
                name: name.clone(),
                service: service.clone(),
                grpc_port,
                metrics_port,
                http_port,
                env: Vec::new(),
                child: None,
                restart_at: None,
                unexpected_exits: Vec::new(),
                start_exits: Vec::new(),
                started_at: None,
                starts: 0,
            });
        }
        let portal_port = procs.iter().find_map(|p| p.http_port).context("a portal")?;
        let portal_base = format!("http://127.0.0.1:{portal_port}");
        // The SMS gateway peer, with the credentials and callback secret of
        // deploy/local/yuetan.toml (its [scheduling.sms] and [portal]).
        let sms = Arc::new(
            SmsPeer::start_on(
                SmsPeerConfig {
                    access_key_id: "local-sms-key".into(),
                    access_key_secret: "local-sms-secret".into(),
                    callback_url: Some(format!("{portal_base}/callbacks/sms")),
                    callback_secret: "local-sms-callback-secret".into(),
                },
                ([127, 0, 0, 1], free_port()?).into(),
            )
            .await
            .context("starting the SMS peer")?,
        );
        // The e-delivery platform and the SMTP server, with the development
        // values of deploy/local/yuetan.toml ([scheduling.egov], [portal]).
        let egov = Arc::new(
            EgovPeer::start_on(EgovPeerConfig { app_id: "local-egov-app".into(), secret: "local-egov-secret".into() }, ([127, 0, 0, 1], free_port()?).into())
                .await
                .context("starting the e-delivery peer")?,
        );
        let smtp = Arc::new(SmtpPeer::start_with(0, &[]).context("starting the SMTP peer (python3-aiosmtpd, deploy/local/install.sh)")?);

        let mut common_env: Vec<(String, String)> = vec![
            ("YUETAN_DATABASE__URL".into(), url("chaos_app")),
            ("YUETAN_DATABASE__OWNER_URL".into(), url("chaos_owner")),
            ("YUETAN_NATS__URL".into(), nats_url.clone()),
            ("YUETAN_NATS__REPLICAS".into(), if options.cluster { "3" } else { "1" }.into()),
            ("YUETAN_OBJECTS__ROOT".into(), root.join("objects").display().to_string()),
            ("YUETAN_SCHEDULING__VIDEO__JANUS__RECORDINGS_DIR".into(), root.join("recordings").display().to_string()),
            ("YUETAN_LINKS__BASE_URL".into(), portal_base.clone()),
            ("YUETAN_SCHEDULING__EGOV__CALLBACK_URL".into(), format!("{portal_base}/callbacks/egov")),
            ("YUETAN_SCHEDULING__SMS__ENDPOINT".into(), sms.endpoint()),
            ("YUETAN_SCHEDULING__EGOV__ENDPOINT".into(), egov.endpoint()),
            ("YUETAN_SCHEDULING__EMAIL__HOST".into(), "127.0.0.1".into()),
            ("YUETAN_SCHEDULING__EMAIL__PORT".into(), smtp.port().to_string()),
            ("YUETAN_SCHEDULING__SMS__ACCESS_KEY_ID".into(), "local-sms-key".into()),
            ("YUETAN_SCHEDULING__SMS__ACCESS_KEY_SECRET".into(), "local-sms-secret".into()),
            ("YUETAN_PORTAL__SMS_CALLBACK_SECRET".into(), "local-sms-callback-secret".into()),
            ("YUETAN_SUPERVISION__ARCHIVE_DELAY_SECONDS".into(), "2".into()),
            ("YUETAN_TELEMETRY__FORMAT".into(), "json".into()),
            ("YUETAN_TELEMETRY__FILTER".into(), "warn".into()),
            ("RUST_BACKTRACE".into(), "1".into()),
        ];
        for (service, urls) in &endpoints {
            common_env.push((
                format!("YUETAN_CLIENT__ENDPOINTS__{}", service.to_uppercase()),
                format!("[{}]", urls.iter().map(|u| format!("\"{u}\"")).collect::<Vec<_>>().join(",")),
            ));
        }
        common_env.extend(options.extra_env.iter().cloned());
        for p in procs.iter_mut() {
            let mut env = vec![
                ("YUETAN_GRPC__LISTEN".to_string(), format!("127.0.0.1:{}", p.grpc_port)),
                ("YUETAN_METRICS__LISTEN".to_string(), format!("127.0.0.1:{}", p.metrics_port)),
            ];
            if let Some(http) = p.http_port {
                env.push(("YUETAN_PORTAL__LISTEN".into(), format!("127.0.0.1:{http}")));
            }
            if options.relay_abort > 0.0 && p.name.ends_with("-1") && p.service != "portal" {
                env.push(("YUETAN_FAULT_RELAY_ABORT".into(), options.relay_abort.to_string()));
            }
            p.env = env;
        }

        // The configuration as the services see it (for tokens and links).
        let config = {
            let mut pairs = common_env.clone();
            pairs.push(("YUETAN_PORTAL__LISTEN".into(), format!("127.0.0.1:{portal_port}")));
            for (k, v) in &pairs {
                std::env::set_var(k, v);
            }
            Config::load("chaos", Some(&options.config_file))?
        };

        let deployment = Deployment {
            options,
            root,
            admin_url: url("postgres"),
            owner_url: url("chaos_owner"),
            app_url: url("chaos_app"),
            nats_url,
            endpoints,
            portal_base,
            config,
            sms,
            egov,
            smtp,
            procs: Arc::new(Mutex::new(procs)),
            nats: Arc::new(Mutex::new(nats)),
            postgres: Arc::new(Mutex::new(postgres)),
            common_env,
            supervisor: None,
        };
        // The platform first (its schema), then the first replicas (they
        // migrate their schemas), then the rest.
        let names: Vec<String> = deployment.procs.lock().unwrap().iter().map(|p| p.name.clone()).collect();
        let platform: Vec<String> = names.iter().filter(|n| n.starts_with("platform")).cloned().collect();
        let first: Vec<String> = names.iter().filter(|n| n.ends_with("-1") && !n.starts_with("platform")).cloned().collect();
        let rest: Vec<String> = names.iter().filter(|n| !n.ends_with("-1")).cloned().collect();
        for group in [platform, first, rest] {
            for name in &group {
                deployment.spawn(name)?;
            }
            for name in &group {
                deployment.wait_listening(name, Duration::from_secs(180)).await?;
            }
        }
        Ok(deployment)
    }

    /// A routing channel over every service's processes.
    pub fn routed(&self) -> Result<Routed> {
        let settings = ClientSettings { endpoints: self.endpoints.clone() };
        let default = self.endpoints.get("platform").and_then(|u| u.first()).cloned().context("the platform's URL")?;
        Ok(Routed::new(&default, &settings)?)
    }

    /// The folder holding the logs (`logs/<name>.log`).
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// Every process's name and pid (those running).
    pub fn pids(&self) -> Vec<(String, Option<u32>)> {
        self.procs.lock().unwrap().iter().map(|p| (p.name.clone(), p.pid())).collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.procs.lock().unwrap().iter().map(|p| p.name.clone()).collect()
    }

    fn spawn(&self, name: &str) -> Result<()> {
        let mut procs = self.procs.lock().unwrap();
        let p = procs.iter_mut().find(|p| p.name == name).context("no such process")?;
        let argv = vec![
            self.options.yuetan_bin.display().to_string(),
            "--config".into(),
            self.options.config_file.display().to_string(),
            "serve".into(),
            p.service.clone(),
        ];
        let mut env = self.common_env.clone();
        env.extend(p.env.iter().cloned());
        let log = self.root.join(format!("logs/{name}.log"));
        p.child = Some(spawn_logged(&argv, &env, &log)?);
        p.started_at = Some(Instant::now());
        p.restart_at = None;
        p.starts += 1;
        Ok(())
    }

    /// Waits until the process listens on its gRPC (and HTTP) port.
    pub async fn wait_listening(&self, name: &str, limit: Duration) -> Result<()> {
        let (grpc, http) = {
            let procs = self.procs.lock().unwrap();
            let p = procs.iter().find(|p| p.name == name).context("no such process")?;
            (p.grpc_port, p.http_port)
        };
        let deadline = Instant::now() + limit;
        loop {
            let exited = {
                let mut procs = self.procs.lock().unwrap();
                let p = procs.iter_mut().find(|p| p.name == name).unwrap();
                match p.child.as_mut().map(|c| c.try_wait()) {
                    Some(Ok(Some(status))) => Some(status.to_string()),
                    _ => None,
                }
            };
            if let Some(status) = exited {
                bail!("{name} exited at start ({status}); log: {}", self.root.join(format!("logs/{name}.log")).display());
            }
            if port_open(grpc).await && (http.is_none() || port_open(http.unwrap()).await) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{name} does not listen after {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILLs the process and schedules its restart after `down`.
    pub fn kill(&self, name: &str, down: Duration) -> Option<u32> {
        let mut procs = self.procs.lock().unwrap();
        let p = procs.iter_mut().find(|p| p.name == name)?;
        let mut child = p.child.take()?;
        let pid = child.id();
        let _ = child.kill();
        let _ = child.wait();
        p.restart_at = Some(Instant::now() + down);
        Some(pid)
    }

    /// Starts the supervisor: restarts killed processes when their time
    /// comes, and processes that exited by themselves (counted).
    pub fn supervise(&mut self) {
        let procs = self.procs.clone();
        let common = self.common_env.clone();
        let bin = self.options.yuetan_bin.clone();
        let config_file = self.options.config_file.clone();
        let root = self.root.clone();
        self.supervisor = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let mut procs = procs.lock().unwrap();
                for p in procs.iter_mut() {
                    if let Some(child) = p.child.as_mut() {
                        if let Ok(Some(status)) = child.try_wait() {
                            let what = status.to_string();
                            tracing::warn!(process = %p.name, %what, "exited by itself; restarting");
                            let at_start = p.started_at.is_some_and(|t| t.elapsed() < Duration::from_secs(15)) && status.code() == Some(1);
                            if at_start {
                                p.start_exits.push(what);
                            } else {
                                p.unexpected_exits.push(what);
                            }
                            p.child = None;
                            p.restart_at = Some(Instant::now() + Duration::from_millis(300));
                        }
                    }
                    if p.child.is_none() && p.restart_at.is_some_and(|t| Instant::now() >= t) {
                        let argv = vec![bin.display().to_string(), "--config".into(), config_file.display().to_string(), "serve".into(), p.service.clone()];
                        let mut env = common.clone();
                        env.extend(p.env.iter().cloned());
                        match spawn_logged(&argv, &env, &root.join(format!("logs/{}.log", p.name))) {
                            Ok(child) => {
                                p.child = Some(child);
                                p.started_at = Some(Instant::now());
                                p.restart_at = None;
                                p.starts += 1;
                            }
                            Err(err) => {
                                tracing::error!(process = %p.name, error = %err, "cannot restart");
                                p.restart_at = Some(Instant::now() + Duration::from_secs(1));
                            }
                        }
                    }
                }
            }
        }));
    }

    /// Restarts PostgreSQL: fast shutdown (SIGINT), then the same command
    /// (same data folder and port). Returns how long it was down.
    pub async fn restart_postgres(&self) -> Result<Duration> {
        let started = Instant::now();
        let child = self.postgres.lock().unwrap().child.take();
        if let Some(mut child) = child {
            signal(child.id(), "INT");
            tokio::task::spawn_blocking(move || child.wait()).await??;
        }
        let (command, log, port) = {
            let pg = self.postgres.lock().unwrap();
            (pg.command.clone(), pg.log.clone(), pg.port)
        };
        let child = spawn_logged(&command, &[], &log)?;
        self.postgres.lock().unwrap().child = Some(child);
        wait_postgres(&format!("postgres://postgres@127.0.0.1:{port}/postgres"), Duration::from_secs(60)).await?;
        Ok(started.elapsed())
    }

    /// Restarts nats-server `index` (SIGKILL, then the same store and port).
    pub async fn restart_nats(&self, index: usize, down: Duration) -> Result<Duration> {
        let started = Instant::now();
        let child = self.nats.lock().unwrap().get_mut(index).and_then(|n| n.child.take());
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
        tokio::time::sleep(down).await;
        let (args, log, port) = {
            let nats = self.nats.lock().unwrap();
            let n = &nats[index];
            (n.args.clone(), n.log.clone(), n.port)
        };
        let child = spawn_logged(&args, &[], &log)?;
        self.nats.lock().unwrap()[index].child = Some(child);
        wait_port(port, "nats-server", Duration::from_secs(30)).await?;
        Ok(started.elapsed())
    }

    /// Kills nats-server `index` and leaves it down.
    pub fn kill_nats(&self, index: usize) -> Option<u32> {
        let mut nats = self.nats.lock().unwrap();
        let mut child = nats.get_mut(index)?.child.take()?;
        let pid = child.id();
        let _ = child.kill();
        let _ = child.wait();
        Some(pid)
    }

    /// Starts a stopped nats-server `index` again.
    pub async fn start_nats(&self, index: usize) -> Result<()> {
        let (args, log, port) = {
            let nats = self.nats.lock().unwrap();
            let n = &nats[index];
            (n.args.clone(), n.log.clone(), n.port)
        };
        let child = spawn_logged(&args, &[], &log)?;
        self.nats.lock().unwrap()[index].child = Some(child);
        wait_port(port, "nats-server", Duration::from_secs(30)).await
    }

    /// Every process listening again (after the faults); the supervisor
    /// restarts those that exit meanwhile.
    pub async fn wait_all_up(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let ports: Vec<(String, u16, Option<u16>)> = self.procs.lock().unwrap().iter().map(|p| (p.name.clone(), p.grpc_port, p.http_port)).collect();
            let mut down = Vec::new();
            for (name, grpc, http) in ports {
                if !port_open(grpc).await || (http.is_some() && !port_open(http.unwrap()).await) {
                    down.push(name);
                }
            }
            if down.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} not listening after {limit:?}", down.join(", "));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs `yuetan <args…>` against the deployment (as the migration owner
    /// where it writes); returns its exit code and output.
    pub fn cli(&self, args: &[&str]) -> Result<(i32, String)> {
        let mut command = Command::new(&self.options.yuetan_bin);
        command.arg("--config").arg(&self.options.config_file).args(args);
        for (k, v) in &self.common_env {
            command.env(k, v);
        }
        let out = command.output().context("running yuetan")?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        Ok((out.status.code().unwrap_or(-1), text))
    }

    /// Stops everything (SIGTERM to the services, fast shutdown of
    /// PostgreSQL, NATS), and removes the folder unless `keep`.
    pub fn stop(&mut self) {
        if let Some(s) = self.supervisor.take() {
            s.abort();
        }
        let mut procs = self.procs.lock().unwrap();
        for p in procs.iter_mut() {
            if let Some(child) = p.child.as_ref() {
                signal(child.id(), "TERM");
            }
        }
        for p in procs.iter_mut() {
            if let Some(mut child) = p.child.take() {
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = child.try_wait() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        for n in self.nats.lock().unwrap().iter_mut() {
            if let Some(mut child) = n.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(mut child) = self.postgres.lock().unwrap().child.take() {
            signal(child.id(), "INT");
            let _ = child.wait();
        }
        if !self.options.keep {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

impl Drop for Deployment {
    /// Stopped without [`Deployment::stop`] (an error ended the run): the
    /// folder with the logs stays.
    fn drop(&mut self) {
        if self.supervisor.is_some() || self.procs.lock().unwrap().iter().any(|p| p.child.is_some()) {
            self.options.keep = true;
            eprintln!("yuetan-chaos: logs kept in {}", self.root.join("logs").display());
        }
        self.stop();
    }
}

/// Waits until nats-server's monitoring `/healthz` answers 200 (JetStream current).
pub async fn wait_healthy(monitor_port: u16, what: &str, limit: Duration) -> Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(r) = client.get(format!("http://127.0.0.1:{monitor_port}/healthz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{what} not healthy (GET /healthz) after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_postgres(url: &str, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        match PgConnection::connect(url).await {
            Ok(conn) => {
                conn.close().await.ok();
                return Ok(());
            }
            Err(err) if Instant::now() > deadline => bail!("postgres did not accept connections within {limit:?}: {err}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
