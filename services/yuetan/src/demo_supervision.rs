//! The end of `yuetan demo case`: what supervision made of the sample cases
//! (issue 12) — their deadline cards, the county's KPI line beside the
//! targets, and the city's roll-up of the day (the stored 18:00 roll-up if
//! it has run, else the same lines computed now from the read model, which
//! the 18:00 roll-up will store and publish).

use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{Datelike, Utc};
use yuetan_platform::client::Routed;
use yuetan_platform::fields::{cst_date, date};
use yuetan_platform::Config;
use yuetan_proto::supervision as pb;
use yuetan_proto::supervision::supervision_service_client::SupervisionServiceClient;

use crate::demo_case::{Tokens, DIVISION, ORGAN};

/// The supervision events issue 12 fixes, and when each is published (none
/// needs to happen in this run: the cards turn on later days, the roll-up
/// at 18:00, the draw on the first working day of the month).
pub const SUPERVISION_EVENTS: &[(&str, &str)] = &[
    ("supervision.card_changed", "at the start of the day a card turns yellow or red"),
    ("supervision.daily_rollup", "at 18:00 CST each working day (the lines above, stored)"),
    ("supervision.section_warned", "on the first working day, after two months below baseline"),
    ("supervision.award_eligibility_lost", "at a section's third red card in a row"),
    ("supervision.sample_drawn", "at 09:00 CST on the first working day of a month"),
    ("supervision.file_scored", "on ScoreFile"),
    ("supervision.rating_received", "on portal.rating_submitted (the party's rating link)"),
    ("supervision.complaint_registered", "on RegisterComplaint or portal.complaint_submitted"),
    ("supervision.complaint_decided", "on DecideComplaint"),
];

fn colour(c: i32) -> &'static str {
    match pb::Colour::try_from(c) {
        Ok(pb::Colour::Green) => "green",
        Ok(pb::Colour::Yellow) => "yellow",
        Ok(pb::Colour::Red) => "red",
        _ => "?",
    }
}

fn percent(k: &pb::Kpi) -> String {
    if !k.has_value {
        return "—".into();
    }
    if k.name == "satisfaction" {
        format!("{:.0}/100", k.value)
    } else {
        format!("{}/{} {:.0}%", k.numerator, k.denominator, k.value * 100.0)
    }
}

/// Waits for supervision to have closed both cases' files, then prints.
pub async fn print(config: &Config, channel: Routed, tokens: &Tokens, cases: &[(&str, &str)]) -> anyhow::Result<()> {
    let mut supervision = SupervisionServiceClient::new(channel);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for (case_id, number) in cases {
        loop {
            let t = supervision.get_timeline(tokens.bearer("demo-chief", ORGAN, DIVISION, &["section_chief"], pb::GetTimelineRequest { case_id: case_id.to_string() })?).await;
            if let Ok(t) = t {
                let t = t.into_inner();
                if t.stage == "closed" {
                    println!("timeline   {number}: {} steps from {} services, closed", t.entries.len(), t.entries.iter().map(|e| e.service.as_str()).collect::<std::collections::BTreeSet<_>>().len());
                    break;
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("supervision did not close case {number} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let cards = supervision
            .list_cards(tokens.bearer("demo-chief", ORGAN, DIVISION, &["section_chief"], pb::ListCardsRequest { case_id: case_id.to_string(), include_closed: true, page_size: 50, ..Default::default() })?)
            .await?
            .into_inner()
            .cards;
        for c in cards {
            let state = if c.closed { if c.met { "closed, met" } else { "closed, missed" } } else { "open" };
            println!("card       {number} {:<18} {:<6} deadline {} ({state})", c.step, colour(c.colour), c.deadline.map(|d| d.iso).unwrap_or_default());
        }
    }
    // The county's KPI line for the month, beside the targets (R-SUP-5).
    let today = cst_date(Utc::now());
    let period = format!("{:04}-{:02}", today.year(), today.month());
    let board = supervision.get_board(tokens.bearer("demo-chief", ORGAN, DIVISION, &["section_chief"], pb::GetBoardRequest { division: DIVISION.into(), period: period.clone() })?).await?.into_inner();
    let total = board.total.context("the board has no total")?;
    let kpis: Vec<String> = total.kpis.iter().map(|k| format!("{} {} (target {})", k.name, percent(k), if k.name == "satisfaction" { format!("{:.0}", k.target) } else { format!("{:.0}%", k.target * 100.0) })).collect();
    println!("kpi        {DIVISION} {period}: {}; score {:.1}; cards open green {} yellow {} red {}", kpis.join(", "), total.score, total.green, total.yellow, total.red);
    // The city's roll-up of the day.
    let city = format!("{}00", &DIVISION[..4]);
    let leader = tokens.bearer("demo-city-leader", &format!("{city}-SJ"), &city, &["leader"], pb::GetRollupRequest { division: city.clone(), date: Some(date(today)) })?;
    let lines = match supervision.get_rollup(leader).await {
        Ok(r) => {
            let r = r.into_inner();
            println!("rollup     {city} {today} (stored at 18:00, digest {}):", &r.digest[..12.min(r.digest.len())]);
            r.total.into_iter().chain(r.children).map(|l| (l.division, l.open, l.new_cases, l.closed, l.yellow, l.red, l.overdue_rate)).collect::<Vec<_>>()
        }
        Err(status) if status.code() == tonic::Code::NotFound => {
            let (pool, _) = yuetan_platform::db::open_service(config, yuetan_supervision::SERVICE, yuetan_supervision::store::migrations()).await?;
            let mut conn = pool.acquire().await?;
            let lines = yuetan_supervision::flow::rollup::lines(&mut conn, today).await?;
            println!("rollup     {city} {today} (so far today; the 18:00 roll-up stores and publishes it):");
            let mut lines: Vec<_> = lines.into_iter().filter(|l| l.division.starts_with(&city[..4])).collect();
            lines.sort_by_key(|l| (l.division != city, l.division.clone()));
            lines.into_iter().map(|l| { let rate = l.overdue_rate(); (l.division, l.open, l.new_cases, l.closed, l.yellow, l.red, rate) }).collect()
        }
        Err(status) => return Err(status.into()),
    };
    for (division, open, new, closed, yellow, red, rate) in lines {
        println!("rollup     {division}: open {open}, new {new}, closed {closed}, yellow {yellow}, red {red}, overdue {:.0}%", rate * 100.0);
    }
    for (event_type, when) in SUPERVISION_EVENTS {
        println!("contract   {event_type:<38} {when}");
    }
    Ok(())
}
