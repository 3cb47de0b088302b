//! Handing a message to its channel (the providers' side is in
//! `yuetan-channels`). Every message carries only a signed link to the
//! document, never the document or the party's data; the attempt id is the
//! idempotency key the provider sees.

use yuetan_channels::email::{EmailChannel, EmailConfig};
use yuetan_channels::egov::{EgovChannel, EgovConfig};
use yuetan_channels::sms::{SmsChannel, SmsConfig};

use crate::domain::Channel;
use crate::SchedulingConfig;

/// What the provider said when it took the message.
#[derive(Debug, Clone)]
pub struct Sent {
    pub provider_id: String,
    pub reply: String,
    /// The message is already at the recipient's system (SMTP acceptance).
    pub arrived: bool,
}

/// The configured channels; one not configured fails its attempts visibly.
pub struct Channels {
    email: Option<EmailChannel>,
    sms: Option<SmsChannel>,
    egov: Option<EgovChannel>,
}

impl Channels {
    pub fn new(settings: &SchedulingConfig) -> Channels {
        let email = settings.email.as_ref().map(|e| {
            EmailChannel::new(EmailConfig { host: e.host.clone(), port: e.port, from: e.from.clone(), tls: e.tls, timeout_secs: 20 })
        });
        let sms = settings.sms.as_ref().map(|s| {
                SmsChannel::new(SmsConfig {
                    endpoint: s.endpoint.clone(),
                    access_key_id: s.access_key_id.clone(),
                    access_key_secret: s.access_key_secret.expose().to_string(),
                    sign_name: s.sign_name.clone(),
                    template_code: s.template_code.clone(),
                    timeout_secs: 20,
                })
            });
        let egov = settings.egov.as_ref().map(|g| {
            EgovChannel::new(EgovConfig {
                endpoint: g.endpoint.clone(),
                app_id: g.app_id.clone(),
                secret: g.secret.expose().to_string(),
                callback_url: g.callback_url.clone(),
                timeout_secs: 20,
            })
        });
        Channels { email, sms, egov }
    }

    /// Sends one message; `Err((permanent, detail))` when the channel refused or failed.
    pub async fn send(&self, channel: Channel, key: &str, address: &str, document: &str, link: &str) -> Result<Sent, String> {
        match channel {
            Channel::Email => {
                let email = self.email.as_ref().ok_or("no e-mail relay is configured ([scheduling.email])")?;
                let subject = format!("【送达】{document}");
                let body = format!("您有一份行政执法文书待查收：{document}。\n请点击以下链接查看、下载并确认收到（链接有效期内可多次打开）：\n{link}\n\n本邮件由系统自动发送，请勿回复。");
                email.send(key, address, &subject, &body).await.map(|o| Sent { provider_id: o.provider_id, reply: o.reply, arrived: true }).map_err(|e| e.detail)
            }
            Channel::Sms => {
                let sms = self.sms.as_ref().ok_or("no SMS gateway is configured ([scheduling.sms])")?;
                let params = serde_json::json!({ "document": document, "link": link });
                sms.send(key, address, &params).await.map(|o| Sent { provider_id: o.provider_id, reply: o.reply, arrived: false }).map_err(|e| e.detail)
            }
            Channel::Egov => {
                let egov = self.egov.as_ref().ok_or("no e-government platform is configured ([scheduling.egov])")?;
                egov.send(key, address, document, link).await.map(|o| Sent { provider_id: o.provider_id, reply: o.reply, arrived: false }).map_err(|e| e.detail)
            }
            Channel::Direct | Channel::Mail => Err("direct delivery and mail are recorded by the serving officer".into()),
        }
    }
}
