//! Reading the processes' own `GET /metrics` (libs/platform/src/metrics.rs,
//! docs/operations.md) during the chaos run: every live process of the
//! deployment is scraped at once with a short timeout (a killed process is
//! skipped, one that does not answer in time is counted as unanswered), its
//! Prometheus text parsed ([`parse`]), and the figures the recovery report
//! needs put together ([`aggregate`]): outbox backlog per schema, consumer
//! lag per consumer and open dead letters per schema and consumer.
//!
//! Replicas of one service read the same rows and the same JetStream
//! consumers, so they report the same series: each series is the **max**
//! across the processes reporting it (`max by (schema)` in
//! docs/operations.md), never their sum. The totals are then summed over
//! the schemas and consumers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};

/// The gauge of committed, unpublished outbox rows, `{schema}`.
pub const OUTBOX_BACKLOG: &str = "yuetan_outbox_backlog";
/// The age of a schema's oldest unsent outbox row in seconds, `{schema}`.
pub const OUTBOX_OLDEST: &str = "yuetan_outbox_oldest_unsent_seconds";
/// JetStream `num_pending + num_ack_pending`, `{consumer}`.
pub const CONSUMER_LAG: &str = "yuetan_consumer_lag";
/// Open dead letters, `{schema, consumer}`.
pub const DEAD_LETTERS: &str = "yuetan_dead_letters";

/// One sample line of the text format: `name{labels} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Series {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// Parses the Prometheus text format 0.0.4: `# HELP`/`# TYPE` and other
/// comment lines and blank lines are skipped; label values may hold commas,
/// `}` and the escapes `\\`, `\"`, `\n`; values may be `+Inf`, `-Inf`,
/// `NaN`; an optional integer timestamp after the value is accepted and
/// dropped. A malformed line is an error naming its line number.
pub fn parse(text: &str) -> Result<Vec<Series>> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_line(line).map_err(|err| anyhow!("line {}: {err}: {line:?}", index + 1))?);
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_line(line: &str) -> Result<Series> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(line.len());
    let name = &line[..name_end];
    if !valid_name(name) {
        bail!("invalid metric name {name:?}");
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or_else(|| anyhow!("a label without '='"))?;
            let key = rest[..eq].trim();
            if !valid_name(key) {
                bail!("invalid label name {key:?}");
            }
            rest = rest[eq + 1..].trim_start().strip_prefix('"').ok_or_else(|| anyhow!("label {key}: the value is not quoted"))?;
            let mut value = String::new();
            let mut end = None;
            let mut chars = rest.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, escaped)) => value.push(escaped),
                        None => break,
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or_else(|| anyhow!("label {key}: the value is not terminated"))?;
            rest = &rest[end + 1..];
            if labels.insert(key.to_string(), value).is_some() {
                bail!("label {key} twice");
            }
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                bail!("expected ',' or '}}' after label {key}");
            }
        }
    }
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next().ok_or_else(|| anyhow!("no value"))?)?;
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().map_err(|_| anyhow!("invalid timestamp {timestamp:?}"))?;
    }
    if let Some(extra) = fields.next() {
        bail!("unexpected {extra:?} after the value");
    }
    Ok(Series { name: name.to_string(), labels, value })
}

fn parse_value(text: &str) -> Result<f64> {
    match text {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| anyhow!("invalid value {text:?}")),
    }
}

/// A process to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `intake-1`, …
    pub name: String,
    /// `intake`, …
    pub service: String,
    pub metrics_port: u16,
    /// Running now (a killed process waiting for its restart is not scraped).
    pub live: bool,
}

/// The deployment's figures from one round of scrapes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Processes that answered with a parsable page.
    pub answered: usize,
    /// Live processes that did not (timeout, refused while starting, bad page).
    pub unanswered: Vec<String>,
    /// Services none of whose processes reported `yuetan_outbox_backlog`
    /// (all killed, starting, or the collector has not read yet): the totals
    /// miss their share, so a round with a missing service is incomplete.
    pub missing: Vec<String>,
    /// Per schema, max across replicas.
    pub outbox_backlog: BTreeMap<String, f64>,
    /// Per schema, max across replicas (seconds).
    pub oldest_unsent: BTreeMap<String, f64>,
    /// Per consumer, max across replicas.
    pub consumer_lag: BTreeMap<String, f64>,
    /// Per (schema, consumer), max across replicas.
    pub dead_letters: BTreeMap<(String, String), f64>,
}

fn total<'a>(values: impl Iterator<Item = &'a f64>) -> i64 {
    values.filter(|v| v.is_finite()).map(|v| v.round() as i64).sum()
}

impl Figures {
    /// Every service reported.
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }
    /// Outbox rows not yet published, all schemas.
    pub fn backlog(&self) -> i64 {
        total(self.outbox_backlog.values())
    }
    /// Consumer lag, all consumers.
    pub fn lag(&self) -> i64 {
        total(self.consumer_lag.values())
    }
    /// Open dead letters, all schemas and consumers.
    pub fn dead_letters(&self) -> i64 {
        total(self.dead_letters.values())
    }
    /// The oldest unsent outbox row's age, any schema (seconds).
    pub fn oldest_unsent(&self) -> f64 {
        self.oldest_unsent.values().copied().filter(|v| v.is_finite()).fold(0.0, f64::max)
    }
}

fn keep_max<K: Ord>(map: &mut BTreeMap<K, f64>, key: K, value: f64) {
    if value.is_nan() {
        return;
    }
    let entry = map.entry(key).or_insert(value);
    *entry = entry.max(value);
}

/// Puts the pages together: `pages` holds each answering process's series
/// (`None`: it did not answer); `targets` every process of the deployment.
pub fn aggregate(targets: &[Target], pages: &[Option<Vec<Series>>]) -> Figures {
    let mut figures = Figures::default();
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    for (target, page) in targets.iter().zip(pages) {
        let Some(page) = page else {
            if target.live {
                figures.unanswered.push(target.name.clone());
            }
            continue;
        };
        figures.answered += 1;
        for series in page {
            match (series.name.as_str(), series.label("schema"), series.label("consumer")) {
                (OUTBOX_BACKLOG, Some(schema), _) => {
                    reported.insert(&target.service);
                    keep_max(&mut figures.outbox_backlog, schema.to_string(), series.value);
                }
                (OUTBOX_OLDEST, Some(schema), _) => keep_max(&mut figures.oldest_unsent, schema.to_string(), series.value),
                (CONSUMER_LAG, _, Some(consumer)) => keep_max(&mut figures.consumer_lag, consumer.to_string(), series.value),
                (DEAD_LETTERS, Some(schema), Some(consumer)) => {
                    keep_max(&mut figures.dead_letters, (schema.to_string(), consumer.to_string()), series.value)
                }
                _ => {}
            }
        }
    }
    let services: BTreeSet<&str> = targets.iter().map(|t| t.service.as_str()).collect();
    figures.missing = services.into_iter().filter(|s| !reported.contains(s)).map(String::from).collect();
    figures
}

/// Scrapes processes' `/metrics` with one HTTP client.
#[derive(Debug, Clone)]
pub struct Scraper {
    client: reqwest::Client,
}

impl Scraper {
    /// Each GET gives up after `timeout` (connecting included).
    pub fn new(timeout: Duration) -> Result<Self> {
        let client = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).no_proxy().build()?;
        Ok(Self { client })
    }

    /// `GET http://127.0.0.1:<port>/metrics`, parsed.
    pub async fn page(&self, port: u16) -> Result<Vec<Series>> {
        let response = self.client.get(format!("http://127.0.0.1:{port}/metrics")).send().await?.error_for_status()?;
        parse(&response.text().await?)
    }

    /// Scrapes every live target at once and aggregates.
    pub async fn scrape(&self, targets: &[Target]) -> Figures {
        let pages = futures::future::join_all(targets.iter().map(|t| async move {
            if t.live {
                self.page(t.metrics_port).await.ok()
            } else {
                None
            }
        }))
        .await;
        aggregate(targets, &pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"# HELP yuetan_outbox_backlog Events committed to the outbox and not yet published
# TYPE yuetan_outbox_backlog gauge
yuetan_outbox_backlog{schema="intake"} 7
yuetan_dead_letters{consumer="review-intake",schema="review"} 2 1700000000000

  # an indented comment
yuetan_rpc_duration_seconds_bucket{code="OK",method="/a, b{c}=\"d\"\\e\nf",le="+Inf"} +Inf
yuetan_odd{a="1" , b = "x,y" ,} NaN
yuetan_neg -Inf
yuetan_process_resident_bytes 1.5e7
"#;

    #[test]
    fn parses_labels_with_commas_quotes_and_escapes_and_special_values() {
        let series = parse(PAGE).unwrap();
        assert_eq!(series.len(), 6, "{series:#?}");
        assert_eq!(series[0].name, "yuetan_outbox_backlog");
        assert_eq!(series[0].label("schema"), Some("intake"));
        assert_eq!(series[0].value, 7.0);
        assert_eq!(series[1].label("consumer"), Some("review-intake"));
        assert_eq!(series[1].label("schema"), Some("review"));
        assert_eq!(series[1].value, 2.0, "the timestamp is not the value");
        assert_eq!(series[2].label("method"), Some("/a, b{c}=\"d\"\\e\nf"));
        assert_eq!(series[2].label("le"), Some("+Inf"));
        assert_eq!(series[2].value, f64::INFINITY);
        assert_eq!(series[3].label("b"), Some("x,y"));
        assert_eq!(series[3].labels.len(), 2);
        assert!(series[3].value.is_nan());
        assert_eq!(series[4].value, f64::NEG_INFINITY);
        assert!(series[4].labels.is_empty());
        assert_eq!(series[5].value, 1.5e7);
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line() {
        for bad in [
            "yuetan_x{a=\"1} 2",
            "yuetan_x{a=1} 2",
            "yuetan_x{a=\"1\" b=\"2\"} 3",
            "yuetan_x{a=\"1\",a=\"2\"} 3",
            "yuetan_x",
            "yuetan_x 1 2 3",
            "yuetan_x one",
            "yuetan_x inf",
            "9x 1",
        ] {
            let err = parse(&format!("# ok\n{bad}\n")).expect_err(bad).to_string();
            assert!(err.starts_with("line 2:"), "{bad}: {err}");
        }
    }

    fn target(name: &str, live: bool) -> Target {
        Target { name: name.into(), service: name.split('-').next().unwrap().into(), metrics_port: 1, live }
    }

    #[test]
    fn replicas_of_a_service_count_once_as_their_max_and_missing_services_are_named() {
        let targets = [target("intake-1", true), target("intake-2", true), target("review-1", true), target("platform-1", false)];
        let intake_1 = parse("yuetan_outbox_backlog{schema=\"intake\"} 4\nyuetan_consumer_lag{consumer=\"intake-review\"} 3\nyuetan_dead_letters{schema=\"intake\",consumer=\"intake-review\"} 1\n").unwrap();
        let intake_2 = parse("yuetan_outbox_backlog{schema=\"intake\"} 5\nyuetan_consumer_lag{consumer=\"intake-review\"} 2\nyuetan_dead_letters{schema=\"intake\",consumer=\"intake-review\"} 1\nyuetan_outbox_oldest_unsent_seconds{schema=\"intake\"} 2.5\n").unwrap();
        let figures = aggregate(&targets, &[Some(intake_1), Some(intake_2), None, None]);
        assert_eq!(figures.backlog(), 5, "max across replicas, not 9");
        assert_eq!(figures.lag(), 3, "max across replicas, not 5");
        assert_eq!(figures.dead_letters(), 1);
        assert_eq!(figures.oldest_unsent(), 2.5);
        assert_eq!(figures.answered, 2);
        assert_eq!(figures.unanswered, vec!["review-1".to_string()], "a killed process is skipped, not unanswered");
        assert_eq!(figures.missing, vec!["platform".to_string(), "review".to_string()]);
        assert!(!figures.complete());
    }

    #[tokio::test]
    async fn scrapes_a_live_endpoint_and_skips_a_dead_one() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let body = "yuetan_outbox_backlog{schema=\"portal\"} 3\n";
            let answer = format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        // A port nothing listens on: bound and dropped.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let targets = [
            Target { name: "portal-1".into(), service: "portal".into(), metrics_port: port, live: true },
            Target { name: "platform-1".into(), service: "platform".into(), metrics_port: dead, live: true },
        ];
        let figures = Scraper::new(Duration::from_secs(2)).unwrap().scrape(&targets).await;
        assert_eq!(figures.backlog(), 3);
        assert_eq!(figures.unanswered, vec!["platform-1".to_string()]);
        assert_eq!(figures.missing, vec!["platform".to_string()]);
    }
}
