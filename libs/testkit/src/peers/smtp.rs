//! A real SMTP server: `libs/testkit/peers/smtp_peer.py` under Debian's
//! `/usr/bin/python3` with `python3-aiosmtpd`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The server script, written next to the messages at start, so the peer
/// works from any working directory and from an installed binary.
const SCRIPT: &str = include_str!("../../peers/smtp_peer.py");

/// One message the SMTP peer accepted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReceivedMail {
    /// The order of acceptance, from 1.
    pub seq: u64,
    /// The id of the `250 Ok: queued as <ID>` reply.
    pub queue_id: String,
    /// Envelope sender (`MAIL FROM`).
    pub from: String,
    /// Envelope recipients that were accepted (`RCPT TO`).
    pub to: Vec<String>,
    /// The `Message-ID` header, with its angle brackets.
    pub message_id: String,
    /// The decoded `Subject` header.
    pub subject: String,
    /// The decoded plain-text body.
    pub body: String,
    /// The message as it came over the wire.
    pub raw: String,
}

/// A running SMTP peer on 127.0.0.1; stopped (and its folder removed) on drop.
pub struct SmtpPeer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpPeer {
    /// Starts the peer on an ephemeral port; panics with what to install if it cannot.
    pub fn start() -> SmtpPeer {
        SmtpPeer::start_with(0, &[]).unwrap_or_else(|err| panic!("cannot start the SMTP peer: {err:#}"))
    }

    /// Starts the peer on `port` (0: ephemeral), also refusing the addresses
    /// in `reject` at RCPT (besides every `bounce…@` local part).
    pub fn start_with(port: u16, reject: &[&str]) -> Result<SmtpPeer> {
        let dir = tempfile::Builder::new()
            .prefix("yuetan-smtp-")
            .tempdir()
            .context("creating the mail folder")?;
        let script = dir.path().join("smtp_peer.py");
        std::fs::write(&script, SCRIPT).context("writing the SMTP peer script")?;
        let mail = dir.path().join("mail");
        std::fs::create_dir(&mail)?;
        let log = dir.path().join("smtp_peer.log");
        let python = python3();
        let mut command = Command::new(&python);
        command
            .arg(&script)
            .arg("--dir")
            .arg(&mail)
            .arg("--port")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?);
        for address in reject {
            command.arg("--reject").arg(address);
        }
        let mut child = command.spawn().with_context(|| format!("running {}", python.display()))?;
        let stdout = child.stdout.take().context("the SMTP peer's stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).context("reading the SMTP peer's port")?;
        let Some(port) = line.trim().strip_prefix("PORT ").and_then(|p| p.parse::<u16>().ok()) else {
            let _ = child.kill();
            let _ = child.wait();
            let errors = std::fs::read_to_string(&log).unwrap_or_default();
            if errors.contains("No module named 'aiosmtpd'") {
                bail!(
                    "{} has no aiosmtpd: `apt-get install python3-aiosmtpd` (or set YUETAN_PYTHON3)",
                    python.display()
                );
            }
            bail!("the SMTP peer did not start: {}", errors.trim());
        };
        Ok(SmtpPeer { child, port, dir })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder holding one `<queue id>.json` per accepted message.
    pub fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        read_messages(&self.mail_dir())
    }

    /// Waits until at least `n` messages were accepted, or fails after `timeout`.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Result<Vec<ReceivedMail>> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return Ok(messages);
            }
            if Instant::now() > deadline {
                bail!("the SMTP peer accepted {} of {n} messages within {timeout:?}", messages.len());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `$YUETAN_PYTHON3`, else Debian's `/usr/bin/python3` (where apt puts
/// aiosmtpd; a pyenv `python3` on PATH would not see it).
fn python3() -> PathBuf {
    std::env::var_os("YUETAN_PYTHON3")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"))
}

fn read_messages(dir: &Path) -> Vec<ReceivedMail> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<ReceivedMail> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect();
    found.sort_by_key(|mail| mail.seq);
    found
}
