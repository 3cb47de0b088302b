//! A real browser for the console's tests: Debian's `chromium`, headless,
//! driven through Debian's `chromedriver` (WebDriver) with fantoccini, and
//! axe-core's accessibility checks run over the current page.
//!
//! Each [`Browser`] starts its own chromedriver on an ephemeral port, in a
//! process group of its own, with a fresh Chromium profile; closing or
//! dropping the browser kills that group (chromedriver and the Chromium it
//! started). The binaries are `$YUETAN_CHROMEDRIVER`, `$YUETAN_CHROMIUM` and
//! `$YUETAN_AXE_JS`, by default `/usr/bin/chromedriver`, `/usr/bin/chromium`
//! and `axe-core/axe.min.js` under `npm root -g`; `deploy/local/install.sh`
//! installs all three. A missing one is an error, never a skipped test.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fantoccini::ClientBuilder;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

/// How long chromedriver gets to answer `/status` with `ready`.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Chromium's arguments. We run as root (`--no-sandbox`), in a closed
/// network where Chromium's own outbound connections (updates, sync, field
/// trials) are refused, so those are switched off.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1366,768",
    "--lang=zh-CN",
];

/// Runs axe over the document and answers the violations, reduced to what
/// [`AxeViolation`] keeps (a node's `target` is a list of selectors, one
/// per frame or shadow root; they are joined with a space).
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ['violations'] })
  .then((results) => done({ violations: results.violations.map((v) => ({
    id: v.id,
    impact: v.impact || '',
    help: v.help,
    targets: v.nodes.map((n) => n.target.map((t) => Array.isArray(t) ? t.join(' ') : String(t)).join(' ')),
  })) }))
  .catch((err) => done({ error: String(err) }));
"#;

/// One axe rule the page breaks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AxeViolation {
    /// The rule, e.g. `image-alt`, `label`, `color-contrast`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: String,
    pub help: String,
    /// CSS selectors of the offending elements.
    pub targets: Vec<String>,
}

/// A headless Chromium and the chromedriver that drives it.
pub struct Browser {
    pub client: fantoccini::Client,
    out_dir: PathBuf,
    driver: Option<Child>,
    axe_source: OnceCell<String>,
    // Removed after the driver group is killed (fields drop after `drop`).
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a Chromium session. `out_dir` is created;
    /// screenshots and chromedriver's log (`chromedriver.log`) go there.
    ///
    /// fantoccini talks to chromedriver through rustls's process-wide crypto
    /// provider, which this installs first ([`crate::install_crypto_provider`]).
    pub async fn start(out_dir: impl Into<PathBuf>) -> Result<Browser> {
        let out_dir = out_dir.into();
        std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
        let chromedriver = find_chromedriver()?;
        let chromium = find_chromium()?;
        let profile = tempfile::Builder::new()
            .prefix("yuetan-chromium-")
            .tempdir()
            .context("creating the Chromium profile folder")?;

        let port = crate::free_port()?;
        let log_path = out_dir.join("chromedriver.log");
        let log = File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // A group of its own, so that killing it takes Chromium too.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", chromedriver.display()))?;
        // From here on, an early return kills the driver.
        let mut guard = DriverGuard(Some(child));
        let url = format!("http://127.0.0.1:{port}");
        wait_until_ready(&url, guard.0.as_mut().expect("the driver is there"), &log_path).await?;

        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|arg| arg.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_string(),
            json!({
                "binary": chromium.display().to_string(),
                "args": args,
                "prefs": { "intl.accept_languages": "zh-CN" },
            }),
        );
        crate::install_crypto_provider();
        let builder = ClientBuilder::rustls();
        let client = builder
            .context("building the WebDriver HTTP client")?
            .capabilities(capabilities)
            .connect(&url)
            .await
            .with_context(|| format!("starting a Chromium session through chromedriver (its log: {})", log_path.display()))?;

        Ok(Browser {
            client,
            out_dir,
            driver: guard.0.take(),
            axe_source: OnceCell::new(),
            _profile: profile,
        })
    }

    /// chromedriver's process id, which is also the id of the process group
    /// it and its Chromium run in; `None` once closed.
    pub fn driver_pid(&self) -> Option<u32> {
        self.driver.as_ref().map(Child::id)
    }

    /// Where screenshots go.
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// Saves a PNG of the viewport as `<out_dir>/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.client.screenshot().await.context("taking a screenshot")?;
        let path = self.out_dir.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Runs axe-core over the current page and returns its violations.
    ///
    /// WebDriver's scripts are not subject to the page's
    /// Content-Security-Policy, so this works on pages that allow no
    /// inline or foreign script.
    pub async fn axe(&self) -> Result<Vec<AxeViolation>> {
        let source = self
            .axe_source
            .get_or_try_init(|| async {
                let path = find_axe_js()?;
                tokio::fs::read_to_string(&path).await.with_context(|| format!("reading {}", path.display()))
            })
            .await?;
        self.client.execute(source, Vec::new()).await.context("injecting axe-core into the page")?;
        let answer = self.client.execute_async(AXE_RUN, Vec::new()).await.context("running axe-core")?;
        if let Some(error) = answer.get("error") {
            bail!("axe-core failed: {error}");
        }
        let violations = answer.get("violations").cloned().unwrap_or(Value::Null);
        serde_json::from_value(violations).context("reading axe-core's violations")
    }

    /// Resizes the browser window.
    pub async fn set_size(&self, width: u32, height: u32) -> Result<()> {
        self.client.set_window_size(width, height).await.context("resizing the window")
    }

    /// Ends the session (Chromium quits), then stops chromedriver.
    pub async fn close(mut self) -> Result<()> {
        let closed = self.client.clone().close().await;
        if let Some(child) = self.driver.take() {
            kill_group(child);
        }
        closed.context("closing the WebDriver session")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(child) = self.driver.take() {
            kill_group(child);
        }
    }
}

/// Kills a started chromedriver unless it is taken out.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            kill_group(child);
        }
    }
}

/// SIGKILLs the process group led by `child` (chromedriver and the
/// Chromium processes it started) and reaps `child`.
fn kill_group(mut child: Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("sh")
        .args(["-c", r#"kill -KILL "$1" 2>/dev/null"#, "kill-group", &group])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits until chromedriver's `/status` says `ready`.
async fn wait_until_ready(url: &str, child: &mut Child, log_path: &Path) -> Result<()> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let deadline = Instant::now() + DRIVER_START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            bail!("chromedriver exited ({status}) before it was ready: {}", log.trim());
        }
        if let Ok(response) = http.get(format!("{url}/status")).send().await {
            if let Ok(status) = response.json::<Value>().await {
                if status["value"]["ready"] == Value::Bool(true) {
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            bail!("chromedriver did not become ready within {DRIVER_START_TIMEOUT:?} (its log: {})", log_path.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const INSTALL_HINT: &str = "run deploy/local/install.sh (as root) to install it";

/// `$YUETAN_CHROMEDRIVER`, else Debian's `/usr/bin/chromedriver` (package `chromium-driver`).
pub fn find_chromedriver() -> Result<PathBuf> {
    find_binary("YUETAN_CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver (Debian package chromium-driver)")
}

/// `$YUETAN_CHROMIUM`, else Debian's `/usr/bin/chromium`.
pub fn find_chromium() -> Result<PathBuf> {
    find_binary("YUETAN_CHROMIUM", "/usr/bin/chromium", "chromium (Debian package chromium)")
}

/// `$YUETAN_AXE_JS`, else `axe-core/axe.min.js` under `npm root -g` (npm package `axe-core`).
pub fn find_axe_js() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("YUETAN_AXE_JS") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("YUETAN_AXE_JS={} is not a file; unset it or {INSTALL_HINT}", path.display());
        }
        return Ok(path);
    }
    let mut roots = Vec::new();
    if let Ok(output) = Command::new("npm").args(["root", "-g"]).stdin(Stdio::null()).stderr(Stdio::null()).output() {
        if output.status.success() {
            roots.push(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
        }
    }
    roots.extend([PathBuf::from("/usr/local/lib/node_modules"), PathBuf::from("/usr/lib/node_modules")]);
    for root in &roots {
        let candidate = root.join("axe-core/axe.min.js");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("axe-core's axe.min.js not found under `npm root -g` (npm package axe-core): {INSTALL_HINT}, or set YUETAN_AXE_JS")
}

fn find_binary(variable: &str, default: &str, what: &str) -> Result<PathBuf> {
    let (path, from_env) = match std::env::var_os(variable) {
        Some(path) => (PathBuf::from(path), true),
        None => (PathBuf::from(default), false),
    };
    if path.is_file() {
        return Ok(path);
    }
    if from_env {
        bail!("{variable}={} is not a file; unset it or {INSTALL_HINT}", path.display());
    }
    bail!("{what} not found at {default}: {INSTALL_HINT}, or set {variable}")
}
