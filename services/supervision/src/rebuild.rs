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
use crate::{api, events, spec, store, State, SERVICE};

/// What a rebuild found.
#[derive(Debug, Clone)]
pub struct Report {
    pub equal: bool,
    pub events: u64,
    pub boards: usize,
    pub differences: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "replayed {} events; compared {} boards, the open cards and the roll-ups: {}", self.events, self.boards, if self.equal { "equal" } else { "DIFFERENT" })?;
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
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters").fetch_one(&pool).await.unwrap_or(0);

    let (boards, mut differences) = compare(&live, &state).await?;
    if dead > 0 {
        differences.insert(0, format!("{dead} events were dead-lettered in the rebuild (see dead_letters in schema {schema})"));
    }
    Ok(Report { equal: differences.is_empty(), events, boards, differences })
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
