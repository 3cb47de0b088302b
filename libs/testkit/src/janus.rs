//! A real Janus WebRTC gateway (Debian's `janus`, 1.1.x) for tests: its own
//! temporary folder with its own configuration, only the HTTP transport (on
//! an ephemeral loopback port, admin API off), only the VideoRoom plugin
//! (with an `admin_key`, so creating rooms needs it) and the sample HTTP
//! event handler (plugin events, grouped, posted to the caller's backend).
//! No Docker.
//!
//! Only the wanted plugins are loaded: the plugin, transport and event
//! handler folders Janus is given are temporary folders holding symlinks to
//! the three modules, so whatever else Debian installed is never loaded.
//!
//! The binary is `$YUETAN_JANUS`, else `janus` on `PATH` (then `/usr/bin`);
//! its modules are found in `$YUETAN_JANUS_LIB` (the folder holding
//! `plugins/`, `transports/`, `events/`), else Debian's
//! `/usr/lib/<multiarch>/janus`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How a [`JanusPeer`] is configured.
#[derive(Debug, Clone, Default)]
pub struct JanusOptions {
    /// Where the event handler posts (`backend`); `None`: the event handler
    /// is not enabled.
    pub event_backend: Option<String>,
    /// Basic authentication for the backend (`backend_user`).
    pub event_user: Option<String>,
    /// Basic authentication for the backend (`backend_pwd`).
    pub event_password: Option<String>,
    /// The VideoRoom plugin's `admin_key`.
    pub admin_key: String,
}

/// A running Janus; killed (and its folder removed) on drop.
pub struct JanusPeer {
    child: Child,
    watchdog: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for JanusPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JanusPeer").field("port", &self.port).field("dir", &self.dir.path()).finish()
    }
}

/// How long one start may take to answer `GET /janus/info`.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Starts tried before giving up (a port taken between choosing and binding).
const ATTEMPTS: usize = 4;

impl JanusPeer {
    /// Starts Janus and waits until its HTTP API answers `GET {url}/info`.
    pub async fn start(options: JanusOptions) -> Result<JanusPeer> {
        let binary = find_janus()?;
        let lib = find_janus_lib()?;
        let mut last_error = None;
        for _ in 0..ATTEMPTS {
            match start_once(&binary, &lib, &options).await {
                Ok(peer) => return Ok(peer),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("janus did not start")))
    }

    /// The HTTP API, e.g. `http://127.0.0.1:PORT/janus`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/janus", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder the tests' rooms record into (`rec_dir`).
    pub fn recordings_dir(&self) -> PathBuf {
        self.dir.path().join("recordings")
    }

    /// The folder holding Janus's configuration, modules and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Janus's log so far (stdout and stderr), for diagnostics.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("janus.log")).unwrap_or_default()
    }
}

impl Drop for JanusPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

async fn start_once(binary: &Path, lib: &Path, options: &JanusOptions) -> Result<JanusPeer> {
    let dir = tempfile::Builder::new()
        .prefix("yuetan-janus-")
        .tempdir()
        .context("creating the Janus folder")?;
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding an ephemeral port")?;
        listener.local_addr()?.port()
    };
    write_config(dir.path(), lib, port, options)?;
    let log = dir.path().join("janus.log");
    let log_file = std::fs::File::create(&log).context("creating janus.log")?;
    let mut child = Command::new(binary)
        .arg("-C")
        .arg(dir.path().join("conf/janus.jcfg"))
        .arg("-F")
        .arg(dir.path().join("conf"))
        .arg("-o")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("running {}", binary.display()))?;
    let watchdog = spawn_watchdog(child.id(), dir.path());
    let url = format!("http://127.0.0.1:{port}/janus/info");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let deadline = Instant::now() + START_TIMEOUT;
    let failure = loop {
        if let Some(status) = child.try_wait()? {
            break format!("janus exited ({status})");
        }
        if let Ok(response) = client.get(&url).send().await {
            if response.text().await.is_ok_and(|text| text.contains("server_info")) {
                return Ok(JanusPeer { child, watchdog, port, dir });
            }
        }
        if Instant::now() > deadline {
            break format!("janus did not answer {url} within {START_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Not started: stop what runs and say why, with the log.
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    if let Some(mut watchdog) = watchdog {
        let _ = watchdog.kill();
        let _ = watchdog.wait();
    }
    bail!("{failure}; its log:\n{}", text.trim())
}

/// A shell that kills Janus and removes its folder when this process exits
/// however it exits (a panicking test binary, an aborted run), so no Janus
/// outlives its test. [`JanusPeer`]'s drop kills the watchdog itself.
fn spawn_watchdog(janus_pid: u32, dir: &Path) -> Option<Child> {
    let script = r#"
parent="$1"; child="$2"; dir="$3"
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.3; done
if ! kill -0 "$parent" 2>/dev/null; then
    kill -s KILL "$child" 2>/dev/null
    sleep 0.2
    rm -rf "$dir"
fi
"#;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("yuetan-janus-watchdog")
        .arg(std::process::id().to_string())
        .arg(janus_pid.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// A value for a `.jcfg` string: quoted, with `\` and `"` escaped.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn path_str(path: &Path) -> String {
    quoted(&path.display().to_string())
}

fn write_config(dir: &Path, lib: &Path, port: u16, options: &JanusOptions) -> Result<()> {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf)?;
    std::fs::create_dir_all(dir.join("recordings"))?;
    // Only the modules wanted: one folder per kind with a symlink each.
    for (kind, module) in [("plugins", "libjanus_videoroom.so"), ("transports", "libjanus_http.so"), ("events", "libjanus_sampleevh.so")] {
        let folder = dir.join(kind);
        std::fs::create_dir_all(&folder)?;
        let target = lib.join(kind).join(module);
        if !target.is_file() {
            bail!("{} is missing: `apt-get install janus`, or set YUETAN_JANUS_LIB", target.display());
        }
        std::os::unix::fs::symlink(&target, folder.join(module))
            .with_context(|| format!("linking {}", target.display()))?;
    }
    std::fs::create_dir_all(dir.join("loggers"))?;

    let janus = format!(
        r#"general: {{
	configs_folder = {conf}
	plugins_folder = {plugins}
	transports_folder = {transports}
	events_folder = {events}
	loggers_folder = {loggers}
	debug_level = 4
	server_name = "yuetan-test"
	session_timeout = 60
	protected_folders = []
}}
certificates: {{
}}
media: {{
}}
nat: {{
	nice_debug = false
	ice_enforce_list = "127.0.0.1"
}}
plugins: {{
}}
transports: {{
}}
loggers: {{
}}
events: {{
	broadcast = true
	stats_period = 0
}}
"#,
        conf = path_str(&conf),
        plugins = path_str(&dir.join("plugins")),
        transports = path_str(&dir.join("transports")),
        events = path_str(&dir.join("events")),
        loggers = path_str(&dir.join("loggers")),
    );
    std::fs::write(conf.join("janus.jcfg"), janus)?;

    let http = format!(
        r#"general: {{
	json = "compact"
	base_path = "/janus"
	http = true
	port = {port}
	ip = "127.0.0.1"
	https = false
}}
admin: {{
	admin_http = false
	admin_https = false
}}
cors: {{
}}
certificates: {{
}}
"#
    );
    std::fs::write(conf.join("janus.transport.http.jcfg"), http)?;

    let videoroom = format!(
        "general: {{\n\tadmin_key = {}\n\tevents = true\n}}\n",
        quoted(&options.admin_key)
    );
    std::fs::write(conf.join("janus.plugin.videoroom.jcfg"), videoroom)?;

    let mut evh = String::from("general: {\n");
    match &options.event_backend {
        Some(backend) => {
            evh.push_str("\tenabled = true\n\tevents = \"plugins\"\n\tgrouping = true\n\tjson = \"compact\"\n");
            evh.push_str(&format!("\tbackend = {}\n", quoted(backend)));
            if let Some(user) = &options.event_user {
                evh.push_str(&format!("\tbackend_user = {}\n", quoted(user)));
            }
            if let Some(password) = &options.event_password {
                evh.push_str(&format!("\tbackend_pwd = {}\n", quoted(password)));
            }
            evh.push_str("\tmax_retransmissions = 5\n\tretransmissions_backoff = 50\n");
        }
        None => evh.push_str("\tenabled = false\n"),
    }
    evh.push_str("}\n");
    std::fs::write(conf.join("janus.eventhandler.sampleevh.jcfg"), evh)?;
    Ok(())
}

/// `$YUETAN_JANUS`, `janus` on `PATH`, then `/usr/bin/janus`.
pub fn find_janus() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("YUETAN_JANUS") {
        return Ok(PathBuf::from(path));
    }
    if let Some(path) = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).map(|dir| dir.join("janus")).find(|candidate| candidate.is_file())
    }) {
        return Ok(path);
    }
    let debian = PathBuf::from("/usr/bin/janus");
    if debian.is_file() {
        return Ok(debian);
    }
    bail!("janus not found: `apt-get install janus` (deploy/local/install.sh does), or set YUETAN_JANUS")
}

/// The folder holding Janus's `plugins/`, `transports/` and `events/`:
/// `$YUETAN_JANUS_LIB`, else Debian's `/usr/lib/<multiarch>/janus`, else
/// `/usr/lib/janus` or `/usr/local/lib/janus`.
pub fn find_janus_lib() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("YUETAN_JANUS_LIB") {
        return Ok(PathBuf::from(path));
    }
    let has_videoroom = |dir: &Path| dir.join("plugins/libjanus_videoroom.so").is_file();
    let mut candidates = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        let mut multiarch: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("janus")).collect();
        multiarch.sort();
        candidates.extend(multiarch);
    }
    candidates.extend([PathBuf::from("/usr/lib/janus"), PathBuf::from("/usr/local/lib/janus"), PathBuf::from("/opt/janus/lib/janus")]);
    candidates
        .into_iter()
        .find(|dir| has_videoroom(dir))
        .context("Janus's modules (plugins/libjanus_videoroom.so) not found: `apt-get install janus`, or set YUETAN_JANUS_LIB")
}
