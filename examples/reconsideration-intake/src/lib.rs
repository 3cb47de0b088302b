//! A province's reconsideration-intake system attached to Yuetan from the
//! outside (issue 13, R-RELIEF-1): it uses only what the platform publishes
//! for other systems — the events on the bus (`yuetan.events.v1.Event` on
//! `<prefix>.<pp>.<cc>.<dd>.<service>.<event>`), the case-file export API
//! (`yuetan.casefile.v1`, with a service-account token) and the archive
//! format with its verification (`yuetan-casefile`) — and changes nothing
//! in the services.
//!
//! - [`sync::sync`]: its own durable JetStream consumer keeps the list of
//!   decided cases a party could challenge, with the last day to apply for
//!   reconsideration (ARL 2023 art. 20: 60 days, on the calendar).
//! - [`apply::apply`]: an application received: publishes
//!   `relief.application_received`; the platform marks the case under relief
//!   and gives the organ its 10-working-day reply deadline.
//! - [`pull::pull`]: downloads the case file as one archive and verifies it
//!   against its signed manifest and the archive public key.
//!
//! State lives in one JSON file in its own folder ([`book::Book`]), written
//! atomically before any message is acknowledged.

pub mod apply;
pub mod book;
pub mod pull;
pub mod sync;

use chrono::{FixedOffset, NaiveDate, Utc};

/// Where the platform's events are.
#[derive(Debug, Clone)]
pub struct Bus {
    /// e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The platform's stream, e.g. `YUETAN`.
    pub stream: String,
    /// The subject prefix, e.g. `yuetan.ev`.
    pub prefix: String,
}

impl Bus {
    pub async fn connect(&self) -> anyhow::Result<async_nats::jetstream::Context> {
        let client = async_nats::ConnectOptions::new()
            .name("reconsideration-intake")
            .connection_timeout(std::time::Duration::from_secs(5))
            .connect(&self.url)
            .await
            .map_err(|err| anyhow::anyhow!("connecting to nats at {}: {err}", self.url))?;
        Ok(async_nats::jetstream::new(client))
    }

    /// `<prefix>.<pp>.<cc>.<dd>.<event_type>` for a six-digit division.
    pub fn subject(&self, division: &str, event_type: &str) -> anyhow::Result<String> {
        anyhow::ensure!(
            division.len() == 6 && division.bytes().all(|b| b.is_ascii_digit()),
            "division {division:?} is not a six-digit code"
        );
        Ok(format!("{}.{}.{}.{}.{event_type}", self.prefix, &division[0..2], &division[2..4], &division[4..6]))
    }
}

/// Who this system is on the events it publishes.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The system's id (the `source` of its reliefs and the actor's id), e.g. `gs-fuyi`.
    pub id: String,
    /// e.g. 甘肃省行政复议平台.
    pub name: String,
    /// The organ code it publishes as, e.g. `620000-FY`.
    pub organ: String,
    /// Its own division, e.g. `620000`.
    pub division: String,
}

/// Today in China Standard Time (R-TIME-3: dates are CST days).
pub fn today() -> NaiveDate {
    let cst = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    Utc::now().with_timezone(&cst).date_naive()
}

/// A `YYYY-MM-DD` date (for the command line).
pub fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| format!("{text:?} is not a date YYYY-MM-DD"))
}

fn proto_day(day: NaiveDate) -> yuetan_proto::common::Date {
    yuetan_proto::common::Date { iso: day.format("%Y-%m-%d").to_string() }
}

fn day_of(date: Option<&yuetan_proto::common::Date>) -> Option<NaiveDate> {
    date.and_then(|d| NaiveDate::parse_from_str(&d.iso, "%Y-%m-%d").ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_split_the_division_into_two_digit_tokens() {
        let bus = Bus { url: String::new(), stream: "YUETAN".into(), prefix: "yuetan.ev".into() };
        assert_eq!(bus.subject("620102", "relief.application_received").unwrap(), "yuetan.ev.62.01.02.relief.application_received");
        assert!(bus.subject("6201", "relief.application_received").is_err());
    }
}
