//! Runs the SMS and e-gov provider peers (and, with `--smtp-port`, the SMTP
//! peer) for the local demo, logging what they receive with phone numbers
//! and accounts masked.
//!
//! ```text
//! yuetan-peers --sms-port 7401 --egov-port 7402 --callback-base http://127.0.0.1:7400
//! ```
//!
//! SMS delivery reports go to `<callback-base>/callbacks/sms` (or
//! `--sms-callback-url`); e-gov acknowledgements go to each request's
//! `callbackUrl`. Secrets default to the demo's and can come from the
//! environment (`YUETAN_PEERS_*`).

use std::net::SocketAddr;

use anyhow::Result;
use clap::Parser;
use yuetan_testkit::peers::{mask_account, EgovPeer, EgovPeerConfig, SmsPeer, SmsPeerConfig, SmtpPeer};

#[derive(Parser, Debug)]
#[command(name = "yuetan-peers", about = "Local SMS, e-gov and SMTP provider peers for the Yuetan demo")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "YUETAN_PEERS_HOST", default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Port of the SMS (Alibaba Cloud SendSms) peer.
    #[arg(long, env = "YUETAN_PEERS_SMS_PORT", default_value_t = 7401)]
    sms_port: u16,
    /// Port of the e-gov platform peer.
    #[arg(long, env = "YUETAN_PEERS_EGOV_PORT", default_value_t = 7402)]
    egov_port: u16,
    /// Port of the SMTP peer (not started without it; needs python3-aiosmtpd).
    #[arg(long, env = "YUETAN_PEERS_SMTP_PORT")]
    smtp_port: Option<u16>,
    /// The portal's base URL; SMS reports go to <base>/callbacks/sms.
    #[arg(long, env = "YUETAN_PEERS_CALLBACK_BASE", default_value = "http://127.0.0.1:7400")]
    callback_base: String,
    /// Where SMS reports go, instead of <callback-base>/callbacks/sms.
    #[arg(long, env = "YUETAN_PEERS_SMS_CALLBACK_URL")]
    sms_callback_url: Option<String>,
    #[arg(long, env = "YUETAN_PEERS_SMS_ACCESS_KEY_ID", default_value = "local-sms-key")]
    sms_access_key_id: String,
    #[arg(
        long,
        env = "YUETAN_PEERS_SMS_ACCESS_KEY_SECRET",
        default_value = "local-sms-secret",
        hide_default_value = true
    )]
    sms_access_key_secret: String,
    /// Key of the reports' X-Yuetan-Signature.
    #[arg(
        long,
        env = "YUETAN_PEERS_SMS_CALLBACK_SECRET",
        default_value = "local-sms-callback-secret",
        hide_default_value = true
    )]
    sms_callback_secret: String,
    #[arg(long, env = "YUETAN_PEERS_EGOV_APP_ID", default_value = "local-egov-app")]
    egov_app_id: String,
    #[arg(long, env = "YUETAN_PEERS_EGOV_SECRET", default_value = "local-egov-secret", hide_default_value = true)]
    egov_secret: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let sms_callback = args
        .sms_callback_url
        .clone()
        .unwrap_or_else(|| format!("{}/callbacks/sms", args.callback_base.trim_end_matches('/')));
    let sms = SmsPeer::start_on(
        SmsPeerConfig {
            access_key_id: args.sms_access_key_id.clone(),
            access_key_secret: args.sms_access_key_secret.clone(),
            callback_url: Some(sms_callback.clone()),
            callback_secret: args.sms_callback_secret.clone(),
        },
        SocketAddr::new(args.host, args.sms_port),
    )
    .await?;
    let egov = EgovPeer::start_on(
        EgovPeerConfig {
            app_id: args.egov_app_id.clone(),
            secret: args.egov_secret.clone(),
        },
        SocketAddr::new(args.host, args.egov_port),
    )
    .await?;
    let smtp = match args.smtp_port {
        Some(port) => Some(SmtpPeer::start_with(port, &[])?),
        None => None,
    };
    println!(
        "yuetan-peers: sms  {} (AccessKeyId {}, reports to {sms_callback})",
        sms.endpoint(),
        args.sms_access_key_id
    );
    println!("yuetan-peers: egov {} (app id {})", egov.endpoint(), args.egov_app_id);
    if let Some(smtp) = &smtp {
        println!("yuetan-peers: smtp 127.0.0.1:{} (messages in {})", smtp.port(), smtp.mail_dir().display());
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut shown = 0;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = tick.tick() => {
                // The SMTP peer is a separate process: show its new mail here.
                let Some(smtp) = &smtp else { continue };
                let mails = smtp.messages();
                for mail in mails.iter().skip(shown) {
                    let to: Vec<String> = mail.to.iter().map(|a| mask_account(a)).collect();
                    tracing::info!(target: "yuetan_peers", queue_id = %mail.queue_id, message_id = %mail.message_id, to = ?to, "smtp: accepted");
                }
                shown = mails.len();
            }
        }
    }
    println!("yuetan-peers: stopping");
    Ok(())
}
