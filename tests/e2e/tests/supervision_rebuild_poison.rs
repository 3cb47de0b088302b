//! `yuetan supervision rebuild` and dead letters, against real NATS and
//! PostgreSQL: a poison event (a malformed payload on a valid subject,
//! published straight to the stream) that the live supervision consumer
//! dead-letters is dead-lettered by the replay too; both models skipped it
//! alike, so the rebuild is equal and says so on its `skipped …` line. An
//! event dead-lettered by only one of the models stays a difference, named
//! by its sequence and subject.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use yuetan_platform::outbox::{NewEvent, Outbox};
use yuetan_proto::events::event::Payload;
use yuetan_proto::events::{self as ev};
use yuetan_supervision::rebuild::{self, Report};

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// Monday 2026-09-21, 10:00 CST.
const NOW: &str = "2026-09-21T02:00:00Z";

/// Intake, review and supervision, with one clue applied by supervision;
/// returns the clue's stream sequence and subject.
async fn with_a_clue() -> (System, u64, String) {
    let mut s = start_at(at(NOW)).await;
    s.start_service(Service::Supervision).await;
    let outbox = Outbox::new(&s.config.nats.subject_prefix, "intake");
    let mut tx = s.pool_of(Service::Intake).begin().await.unwrap();
    let payload = Payload::ClueRegistered(ev::ClueRegistered {
        clue_id: uuid::Uuid::now_v7().to_string(),
        source: "complaint".into(),
        section: "综合执法科".into(),
        violation_type: "SJ-ANNUAL-REPORT".into(),
        urgency: "normal".into(),
        received_on: Some(yuetan_platform::fields::date("2026-09-21".parse().unwrap())),
        verification_deadline: Some(yuetan_platform::fields::date("2026-09-24".parse().unwrap())),
        ..Default::default()
    });
    let event = NewEvent {
        event_type: "intake.clue_registered".into(),
        case_id: None,
        case_version: 0,
        jurisdiction: CHENGGUAN.into(),
        organ: ORGAN_A.into(),
        actor: None,
        correlation_id: None,
        causation_id: None,
        payload,
    };
    outbox.write(&mut tx, event, yuetan_platform::clock::Clock::now(s.clock.as_ref())).await.unwrap();
    tx.commit().await.unwrap();
    s.drain_outbox().await;
    let subject = yuetan_platform::bus::subject(&s.config.nats.subject_prefix, CHENGGUAN, "intake.clue_registered").unwrap();
    let stream = s.bus.jetstream.get_stream(&s.config.nats.stream).await.unwrap();
    let seq = stream.get_last_raw_message_by_subject(&subject).await.unwrap().sequence;
    // Applied live: its cards are on supervision's board.
    let supervision = s.pool_of(Service::Supervision).clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM cards").fetch_one(&supervision).await.unwrap() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the clue never reached supervision");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (s, seq, subject)
}

/// A malformed payload on a valid subject, straight to the stream (as the
/// chaos run injects them); waits until the live supervision consumer has
/// dead-lettered it. Its stream sequence and subject.
async fn poison(s: &System) -> (u64, String) {
    let subject = yuetan_platform::bus::subject(&s.config.nats.subject_prefix, CHENGGUAN, "intake.clue_registered").unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", uuid::Uuid::now_v7().to_string().as_str());
    headers.insert("ce-type", "intake.clue_registered");
    let payload = "\u{1}\u{2}poison: not a protobuf event \u{ff}".as_bytes().to_vec();
    let ack = s.bus.jetstream.publish_with_headers(subject.clone(), headers, payload.into()).await.unwrap().await.unwrap();
    let supervision = s.pool_of(Service::Supervision);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let kind: Option<String> =
            sqlx::query_scalar("SELECT kind FROM dead_letters WHERE consumer = $1 AND stream_seq = $2 AND resolved_at IS NULL")
                .bind(yuetan_supervision::CONSUMER)
                .bind(ack.sequence as i64)
                .fetch_optional(supervision)
                .await
                .unwrap();
        if let Some(kind) = kind {
            assert_eq!(kind, "undecodable");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the live supervision consumer never dead-lettered seq {}", ack.sequence);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (ack.sequence, subject)
}

async fn run_rebuild(s: &System) -> Report {
    s.drain_outbox().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    rebuild::rebuild(&s.config, "supervision_rebuild", s.clock.clone(), s.calendar.clone()).await.unwrap()
}

/// The stream sequences the rebuild dead-lettered.
async fn rebuilt_dead_letters(s: &System) -> Vec<i64> {
    sqlx::query_scalar("SELECT stream_seq FROM supervision_rebuild.dead_letters ORDER BY 1").fetch_all(s.pool_of(Service::Supervision)).await.unwrap()
}

#[tokio::test]
async fn a_poison_event_the_live_model_dead_lettered_too_is_skipped_alike_and_the_rebuild_is_equal() {
    let (s, clue_seq, _) = with_a_clue().await;
    let (poison_seq, _) = poison(&s).await;
    assert!(poison_seq > clue_seq);

    let report = run_rebuild(&s).await;
    // The replay reached the poison event and dead-lettered it too …
    assert!(report.events >= poison_seq, "{report}");
    assert_eq!(rebuilt_dead_letters(&s).await, vec![poison_seq as i64], "the rebuild dead-lettered the poison event");
    // … which is no difference: equal (the CLI exits 0), with the skipped line.
    assert!(report.equal, "{report}");
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(report.skipped, vec![poison_seq]);
    assert!(report.boards >= 1, "the clue's board was compared: {report}");
    let text = report.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("replayed ") && lines[0].ends_with(": equal"), "{text}");
    assert_eq!(lines[1], format!("skipped 1 event dead-lettered by the live model too: seq {poison_seq}"));
    s.stop().await;
}

#[tokio::test]
async fn an_event_dead_lettered_by_only_one_model_is_a_difference_named_by_sequence_and_subject() {
    let (s, clue_seq, clue_subject) = with_a_clue().await;
    let (poison_seq, poison_subject) = poison(&s).await;
    let supervision = s.pool_of(Service::Supervision);
    // The live model's dead letter of the poison event settled as applied by
    // a replay: the live model no longer skips it, the rebuild still does.
    sqlx::query("UPDATE dead_letters SET resolved_at = now(), resolution = 'applied by replay' WHERE consumer = $1 AND stream_seq = $2")
        .bind(yuetan_supervision::CONSUMER)
        .bind(poison_seq as i64)
        .execute(supervision)
        .await
        .unwrap();
    // And the clue as if the live consumer had given up on it (a handler
    // failing max_deliver times), while the rebuild applies it.
    sqlx::query(
        "INSERT INTO dead_letters (consumer, subject, stream_seq, deliveries, error, payload, headers, kind)
         VALUES ($1, $2, $3, 5, 'handler failed 5 times: connection reset', ''::bytea, '{}'::jsonb, 'failed')",
    )
    .bind(yuetan_supervision::CONSUMER)
    .bind(&clue_subject)
    .bind(clue_seq as i64)
    .execute(supervision)
    .await
    .unwrap();

    let report = run_rebuild(&s).await;
    assert_eq!(rebuilt_dead_letters(&s).await, vec![poison_seq as i64], "the rebuild dead-lettered the poison event only");
    assert!(!report.equal, "{report}");
    assert!(report.skipped.is_empty(), "{report}");
    assert_eq!(report.differences.len(), 2, "{report}");
    assert!(
        report.differences[0].starts_with(&format!("seq {clue_seq} on {clue_subject}: dead-lettered by the live model only, the rebuild applied it")),
        "{report}"
    );
    assert!(
        report.differences[1].starts_with(&format!("seq {poison_seq} on {poison_subject}: dead-lettered in the rebuild only, not by the live model")),
        "{report}"
    );
    let text = report.to_string();
    assert!(text.lines().next().unwrap().ends_with(": DIFFERENT"), "{text}");
    assert!(!text.contains("skipped"), "{text}");
    s.stop().await;
}
