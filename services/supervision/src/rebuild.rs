//! `yuetan supervision rebuild`: the read model from the stream alone.
//!
//! The whole stream (`<prefix>.>`, from its first message) is applied by
//! the same consumer code, through a durable consumer of its own
//! (`supervision-rebuild-<id>`, deleted afterwards), into an empty schema
//! (dropped first). Supervision's own events carry its decisions (card
//! changes, roll-ups, draws, scores, ratings, complaints), so nothing is
//! computed again from the clock; the rebuild's outbox is never relayed and
//! its timers never run. When the stream is drained, both models' counters
//! are folded and compared: the board of every division with data (the
//! province, its cities, their counties) for every month and year with
//! data, the open cards by step and colour, and the roll-ups' digests.
//!
//! Dead letters are compared by stream sequence, not counted: an event the
//! rebuild dead-lettered that the live consumer (`supervision-events`) also
//! dead-lettered and has not applied since (its row still open) was skipped
//! by both models alike — a poison message — and is listed on the report's
//! `skipped …` line, not as a difference. An event dead-lettered by only
//! one of them is a difference, named by sequence and subject.
//!
//! Run it when the platform is quiet: events the live service applies
//! during the comparison show up as differences.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Datelike;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use yuetan_calendar::{Calendar, SharedCalendar};
use yuetan_platform::auth::DivisionCode;
use yuetan_platform::bus::Bus;
use yuetan_platform::clock::{SharedClock, SystemClock};
use yuetan_platform::consumer::Consumer;
use yuetan_platform::{db, Config, Error};

use crate::flow::rollup::{city_of, province_of};
use crate::{api, events, spec, store, State, CONSUMER, SERVICE};

/// What a rebuild found.
#[derive(Debug, Clone)]
pub struct Report {
    pub equal: bool,
    pub events: u64,
    pub boards: usize,
    /// Stream sequences both models dead-lettered (not differences).
    pub skipped: Vec<u64>,
    pub differences: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "replayed {} events; compared {} boards, the open cards and the roll-ups: {}", self.events, self.boards, if self.equal { "equal" } else { "DIFFERENT" })?;
        if !self.skipped.is_empty() {
            let seqs: Vec<String> = self.skipped.iter().map(u64::to_string).collect();
            let n = self.skipped.len();
            write!(f, "\nskipped {n} {} dead-lettered by the live model too: seq {}", if n == 1 { "event" } else { "events" }, seqs.join(", "))?;
        }
        for d in &self.differences {
            write!(f, "\n  {d}")?;
        }
        Ok(())
    }
}

/// From the command line: the system clock and the configured calendar.
pub async fn run(config: &Config, schema: &str) -> Result<Report, Error> {
    let calendar = match &config.calendar.holidays_file {
        Some(path) => SharedCalendar::new(Calendar::load(path).map_err(|e| Error::invalid("calendar.holidays_file", e.to_string()))?),
        None => SharedCalendar::new(Calendar::builtin()),
    };
    rebuild(config, schema, Arc::new(SystemClock), calendar).await
}

fn valid_schema(schema: &str) -> Result<(), Error> {
    let ok = !schema.is_empty() && schema.len() <= 48 && schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') && schema.as_bytes()[0].is_ascii_lowercase();
    if !ok || schema == SERVICE {
        return Err(Error::invalid("schema", "a lowercase name other than the live schema"));
    }
    Ok(())
}

/// Rebuilds into `schema` and compares it with the live read model.
pub async fn rebuild(config: &Config, schema: &str, clock: SharedClock, calendar: SharedCalendar) -> Result<Report, Error> {
    valid_schema(schema)?;
    let (live_pool, _) = db::open_service(config, SERVICE, store::migrations()).await?;
    // A fresh schema: dropped (as its owner when configured) and migrated.
    let owner_url = config.database.owner_url.as_ref().map(|u| u.expose().to_string());
    {
        let admin = db::connect(owner_url.as_deref().unwrap_or(config.database.url.expose()), "public", 1).await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&admin).await?;
        admin.close().await;
    }
    let state = Arc::new(open(config, schema, clock, calendar).await?);
    let pool = state.pool.clone();
    let prefix = config.nats.subject_prefix.clone();
    let live = State::new(config, live_pool, state.clock.clone(), state.calendar.clone())?;

    // Replay.
    let bus = Bus::connect(&config.nats).await?;
    let name = format!("supervision-rebuild-{}", Uuid::now_v7().simple());
    let stop = CancellationToken::new();
    let consumer = Consumer::new(pool.clone(), bus.clone(), config.consumer.clone(), spec(&prefix, &name));
    let handler = Arc::new(events::SupervisionEvents { state: state.clone() });
    let running = tokio::spawn(consumer.run_until_stopped(handler, stop.clone()));
    let stream = bus.jetstream.get_stream(&bus.stream).await.map_err(|e| Error::Unavailable(format!("stream: {e}")))?;
    let first = stream.cached_info().state.first_sequence;
    let mut quiet = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
    let mut events;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let info = match stream.consumer_info(&name).await {
            Ok(info) => info,
            Err(_) => continue,
        };
        let waiting: u64 = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM consumer_retries").fetch_one(&pool).await.map(|n| n as u64).unwrap_or(0);
        if info.num_pending == 0 && info.num_ack_pending == 0 && waiting == 0 {
            quiet += 1;
            events = info.delivered.stream_sequence;
            if quiet >= 3 {
                break;
            }
        } else {
            quiet = 0;
        }
        if tokio::time::Instant::now() > deadline {
            stop.cancel();
            return Err(Error::Unavailable("the rebuild did not drain the stream within an hour".into()));
        }
    }
    stop.cancel();
    let _ = running.await;
    let _ = stream.delete_consumer(&name).await;
    // The rebuild's dead letters (all of this run: the schema was new), and
    // the live consumer's still open within the replayed range (the stream
    // from `first` to `events`).
    let rebuilt_dead: Vec<DeadLetter> =
        sqlx::query_as("SELECT stream_seq, subject, error FROM dead_letters ORDER BY stream_seq").fetch_all(&pool).await?;
    let live_dead: Vec<DeadLetter> = sqlx::query_as(
        "SELECT stream_seq, subject, error FROM dead_letters
         WHERE consumer = $1 AND resolved_at IS NULL AND stream_seq BETWEEN $2 AND $3 ORDER BY stream_seq",
    )
    .bind(CONSUMER)
    .bind(i64::try_from(first).unwrap_or(i64::MAX))
    .bind(i64::try_from(events).unwrap_or(i64::MAX))
    .fetch_all(&live.pool)
    .await?;
    let (skipped, mut differences) = compare_dead_letters(&live_dead, &rebuilt_dead, schema);

    let (boards, more) = compare(&live, &state).await?;
    differences.extend(more);
    Ok(Report { equal: differences.is_empty(), events, boards, skipped, differences })
}

/// An event a model's consumer gave up on (a row of its `dead_letters`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeadLetter {
    pub stream_seq: i64,
    pub subject: String,
    pub error: String,
}

/// Matches the two models' dead letters by stream sequence: the sequences
/// both dead-lettered (skipped alike, not a difference), and a difference
/// for each event only one of them dead-lettered.
pub fn compare_dead_letters(live: &[DeadLetter], rebuilt: &[DeadLetter], schema: &str) -> (Vec<u64>, Vec<String>) {
    let live_seqs: BTreeSet<i64> = live.iter().map(|d| d.stream_seq).collect();
    let rebuilt_seqs: BTreeSet<i64> = rebuilt.iter().map(|d| d.stream_seq).collect();
    let skipped: BTreeSet<u64> = live_seqs.intersection(&rebuilt_seqs).map(|s| *s as u64).collect();
    let mut differences: Vec<(i64, String)> = Vec::new();
    for d in rebuilt.iter().filter(|d| !live_seqs.contains(&d.stream_seq)) {
        differences.push((
            d.stream_seq,
            format!(
                "seq {} on {}: dead-lettered in the rebuild only, not by the live model (see dead_letters in schema {schema}): {}",
                d.stream_seq,
                d.subject,
                brief(&d.error)
            ),
        ));
    }
    for d in live.iter().filter(|d| !rebuilt_seqs.contains(&d.stream_seq)) {
        differences.push((
            d.stream_seq,
            format!(
                "seq {} on {}: dead-lettered by the live model only, the rebuild applied it (see dead_letters in schema {SERVICE}): {}",
                d.stream_seq,
                d.subject,
                brief(&d.error)
            ),
        ));
    }
    differences.sort();
    let differences = differences.into_iter().map(|(_, d)| d).collect();
    (skipped.into_iter().collect(), differences)
}

/// A dead letter's reason, on one line and at most 160 characters.
fn brief(error: &str) -> String {
    let line = error.replace(['\n', '\r'], " ");
    match line.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

/// A read model in `schema` (created and migrated if new) with the live settings.
pub async fn open(config: &Config, schema: &str, clock: SharedClock, calendar: SharedCalendar) -> Result<State, Error> {
    valid_schema(schema)?;
    let owner_url = config.database.owner_url.as_ref().map(|u| u.expose().to_string());
    let pool = db::open_schema(config.database.url.expose(), owner_url.as_deref(), schema, config.database.max_connections, Some(store::migrations())).await?;
    State::new(config, pool, clock, calendar)
}

/// The divisions and periods the comparison covers.
async fn scope(state: &State) -> Result<(Vec<String>, Vec<String>), Error> {
    let divisions: Vec<String> = sqlx::query_scalar("SELECT DISTINCT division FROM tallies").fetch_all(&state.pool).await?;
    let months: Vec<chrono::NaiveDate> = sqlx::query_scalar("SELECT DISTINCT month FROM tallies WHERE month > '1970-01-01' ORDER BY 1").fetch_all(&state.pool).await?;
    let mut all = BTreeSet::new();
    for d in divisions {
        if d.len() == 6 {
            all.insert(province_of(&d));
            all.insert(city_of(&d));
            all.insert(d);
        }
    }
    let mut periods = BTreeSet::new();
    for m in months {
        periods.insert(format!("{:04}-{:02}", m.year(), m.month()));
        periods.insert(format!("{:04}", m.year()));
    }
    Ok((all.into_iter().collect(), periods.into_iter().collect()))
}

/// Folds both models' counters, then lists every difference.
pub async fn compare(live: &State, rebuilt: &State) -> Result<(usize, Vec<String>), Error> {
    store::fold_tallies(&live.pool).await?;
    store::fold_tallies(&rebuilt.pool).await?;
    let mut differences = Vec::new();
    let (mut divisions, mut periods) = scope(live).await?;
    let (d2, p2) = scope(rebuilt).await?;
    divisions.extend(d2);
    divisions.sort();
    divisions.dedup();
    periods.extend(p2);
    periods.sort();
    periods.dedup();
    let mut boards = 0;
    for division in &divisions {
        let Ok(code) = DivisionCode::parse(division) else { continue };
        for period in &periods {
            let a = api::board::board(live, &code, period).await?;
            let b = api::board::board(rebuilt, &code, period).await?;
            boards += 1;
            if a != b {
                differences.push(format!("board {division} {period}: live {:?} ≠ rebuilt {:?}", a.total, b.total));
            }
        }
    }
    let cards = "SELECT step, colour, closed, count(*) FROM cards GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
    let a: Vec<(String, String, bool, i64)> = sqlx::query_as(cards).fetch_all(&live.pool).await?;
    let b: Vec<(String, String, bool, i64)> = sqlx::query_as(cards).fetch_all(&rebuilt.pool).await?;
    if a != b {
        differences.push(format!("cards by step and colour: live {a:?} ≠ rebuilt {b:?}"));
    }
    let rollups = "SELECT day, digest FROM rollup_days ORDER BY day";
    let a: Vec<(chrono::NaiveDate, String)> = sqlx::query_as(rollups).fetch_all(&live.pool).await?;
    let b: Vec<(chrono::NaiveDate, String)> = sqlx::query_as(rollups).fetch_all(&rebuilt.pool).await?;
    if a != b {
        differences.push(format!("roll-ups: live {a:?} ≠ rebuilt {b:?}"));
    }
    let timeline = "SELECT count(*) FROM timeline";
    let (a, b): (i64, i64) = (sqlx::query_scalar(timeline).fetch_one(&live.pool).await?, sqlx::query_scalar(timeline).fetch_one(&rebuilt.pool).await?);
    if a != b {
        differences.push(format!("timeline entries: live {a} ≠ rebuilt {b}"));
    }
    Ok((boards, differences))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead(seq: i64) -> DeadLetter {
        DeadLetter { stream_seq: seq, subject: format!("t.ev.620102.intake.clue_registered.{seq}"), error: "not an event:\nbad protobuf".into() }
    }

    fn report(skipped: Vec<u64>, differences: Vec<String>) -> Report {
        Report { equal: differences.is_empty(), events: 20, boards: 3, skipped, differences }
    }

    #[test]
    fn an_event_both_models_dead_lettered_is_skipped_not_a_difference() {
        let (skipped, differences) = compare_dead_letters(&[dead(4), dead(9)], &[dead(4), dead(9)], "supervision_rebuild");
        assert_eq!(skipped, vec![4, 9]);
        assert!(differences.is_empty(), "{differences:?}");
        assert_eq!(
            report(skipped, differences).to_string(),
            "replayed 20 events; compared 3 boards, the open cards and the roll-ups: equal\nskipped 2 events dead-lettered by the live model too: seq 4, 9"
        );
        assert_eq!(report(vec![7], vec![]).to_string().lines().nth(1), Some("skipped 1 event dead-lettered by the live model too: seq 7"));
        assert_eq!(report(vec![], vec![]).to_string().lines().count(), 1, "no skipped line when nothing was skipped");
    }

    #[test]
    fn an_event_dead_lettered_by_only_one_model_is_a_difference_named_by_sequence_and_subject() {
        // 4: both; 6: the rebuild only; 5: the live model only.
        let (skipped, differences) = compare_dead_letters(&[dead(4), dead(5)], &[dead(6), dead(4)], "supervision_rebuild");
        assert_eq!(skipped, vec![4]);
        assert_eq!(differences.len(), 2, "{differences:?}");
        assert!(differences[0].starts_with("seq 5 on t.ev.620102.intake.clue_registered.5: dead-lettered by the live model only"), "{}", differences[0]);
        assert!(differences[1].starts_with("seq 6 on t.ev.620102.intake.clue_registered.6: dead-lettered in the rebuild only"), "{}", differences[1]);
        assert!(differences[1].contains("schema supervision_rebuild") && differences[1].ends_with("not an event: bad protobuf"), "{}", differences[1]);
        let text = report(skipped, differences).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("DIFFERENT"), "{text}");
        assert_eq!(lines[1], "skipped 1 event dead-lettered by the live model too: seq 4");
        assert!(lines[2].starts_with("  seq 5 on ") && lines[3].starts_with("  seq 6 on "), "{text}");
    }

    #[test]
    fn a_long_reason_is_cut_on_a_character_boundary() {
        let long = "错".repeat(300);
        let cut = brief(&long);
        assert_eq!(cut.chars().count(), 161);
        assert!(cut.ends_with('…'));
    }
}
