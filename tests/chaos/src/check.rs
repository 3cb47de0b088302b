//! Waiting for quiet and checking the invariants after a chaos run.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use prost::Message;
use sqlx::{PgPool, Row};
use yuetan_proto::events::Event;

use crate::deployment::{Deployment, SCHEMAS};
use crate::lifecycle::{Ack, Outcome, Stage, FINAL};

/// One invariant's verdict and figure.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub name: &'static str,
    pub ok: bool,
    pub figure: String,
}

/// The outbox rows not yet published, per schema.
pub async fn outbox_backlog(pool: &PgPool) -> Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for schema in SCHEMAS {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(format!("{schema}.outbox")).fetch_one(pool).await?;
        if exists {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.outbox")).fetch_one(pool).await?;
            out.insert(schema.to_string(), n);
        }
    }
    Ok(out)
}

/// Each durable consumer's pending + unacknowledged messages.
pub async fn consumer_lag(js: &async_nats::jetstream::Context, stream: &str) -> Result<BTreeMap<String, u64>> {
    let stream = js.get_stream(stream).await?;
    let mut consumers = stream.consumers();
    let mut out = BTreeMap::new();
    while let Some(info) = consumers.next().await {
        let info = info?;
        out.insert(info.name.clone(), info.num_pending + info.num_ack_pending as u64);
    }
    Ok(out)
}

/// Waits until every outbox is empty and every consumer caught up, three
/// samples in a row; returns how long it took.
pub async fn wait_for_quiet(pool: &PgPool, js: &async_nats::jetstream::Context, stream: &str, limit: Duration) -> Result<Duration> {
    let started = Instant::now();
    let mut calm = 0;
    loop {
        let backlog = outbox_backlog(pool).await.map(|b| b.values().sum::<i64>()).unwrap_or(-1);
        let lag = consumer_lag(js, stream).await.map(|l| l.values().sum::<u64>() as i64).unwrap_or(-1);
        if backlog == 0 && lag == 0 {
            calm += 1;
            if calm >= 3 {
                return Ok(started.elapsed());
            }
        } else {
            calm = 0;
        }
        if started.elapsed() > limit {
            anyhow::bail!("no quiet within {limit:?}: outbox backlog {backlog}, consumer lag {lag}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A message of the stream: sequence, subject, its Nats-Msg-Id and the decoded event (None: not an event).
pub struct StreamEntry {
    pub seq: u64,
    pub subject: String,
    pub msg_id: Option<String>,
    pub event: Option<Event>,
}

/// Reads every message of the stream.
pub async fn read_stream(js: &async_nats::jetstream::Context, stream: &str) -> Result<Vec<StreamEntry>> {
    let mut s = js.get_stream(stream).await?;
    let info = s.info().await?.clone();
    let mut out = Vec::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        match s.get_raw_message(seq).await {
            Ok(message) => {
                let msg_id = message.headers.get("Nats-Msg-Id").map(|v| v.to_string());
                let event = Event::decode(message.payload.as_ref()).ok().filter(|e| !e.id.is_empty() && !e.r#type.is_empty());
                out.push(StreamEntry { seq, subject: message.subject.to_string(), msg_id, event });
            }
            Err(err) => tracing::debug!(seq, %err, "no message at this sequence"),
        }
    }
    Ok(out)
}

/// Everything the checks need from the run.
pub struct RunRecord<'a> {
    pub acks: &'a [Ack],
    pub outcomes: &'a [(Outcome, Stage)],
    /// Stream sequences of the poison messages published on purpose.
    pub poison: &'a [u64],
    pub stream: &'a str,
}

pub async fn invariants(d: &Deployment, pool: &PgPool, js: &async_nats::jetstream::Context, run: &RunRecord<'_>) -> Result<Vec<Verdict>> {
    let mut verdicts = Vec::new();

    // 1. Every acknowledged call's effect exists exactly once.
    {
        let mut checked = 0usize;
        let mut bad: Vec<String> = Vec::new();
        for ack in run.acks {
            let (sql, what): (&str, &str) = match ack.rpc {
                "RegisterParty" => ("SELECT count(*) FROM intake.parties WHERE id = $1::uuid", "party"),
                "RegisterClue" => ("SELECT count(*) FROM intake.clues WHERE id = $1::uuid", "clue"),
                "VerifyClue" => ("SELECT count(*) FROM intake.cases WHERE id = $1::uuid", "case"),
                "DecideReview" | "DecideApproval" => ("SELECT count(*) FROM review.tasks WHERE id = $1::uuid AND status <> 'open'", "decided task"),
                _ => continue,
            };
            let n: i64 = sqlx::query_scalar(sql).bind(&ack.id).fetch_one(pool).await?;
            checked += 1;
            if n != 1 {
                bad.push(format!("{} {} ({what}): {n} rows", ack.rpc, ack.id));
            }
        }
        // Per lifecycle: one clue per party, one case per clue, one task of each kind per case.
        for (o, stage) in run.outcomes {
            if !o.party_id.is_empty() {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM intake.clues WHERE party_id = $1::uuid").bind(&o.party_id).fetch_one(pool).await?;
                let expected = i64::from(*stage >= Stage::ClueRegistered);
                if n > 1 || (expected == 1 && n != 1) {
                    bad.push(format!("lifecycle {}: {n} clues for its party", o.index));
                }
            }
            if !o.clue_id.is_empty() {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM intake.cases WHERE clue_id = $1::uuid").bind(&o.clue_id).fetch_one(pool).await?;
                if n > 1 {
                    bad.push(format!("lifecycle {}: {n} cases for its clue", o.index));
                }
            }
            if !o.case_id.is_empty() {
                for kind in ["legality_review", "approval"] {
                    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM review.tasks WHERE case_id = $1::uuid AND kind = $2")
                        .bind(&o.case_id)
                        .bind(kind)
                        .fetch_one(pool)
                        .await?;
                    if n > 1 {
                        bad.push(format!("case {}: {n} {kind} tasks", o.case_id));
                    }
                }
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM scheduling.plans WHERE case_id = $1::uuid").bind(&o.case_id).fetch_one(pool).await?;
                if n > 1 {
                    bad.push(format!("case {}: {n} interview plans", o.case_id));
                }
                // Later stages: each effect exactly once when its stage was
                // reached, at most once otherwise.
                let once: &[(Stage, &str, &str)] = &[
                    (Stage::InterviewHeld, "interviews", "SELECT count(*) FROM scheduling.interviews WHERE case_id = $1::uuid"),
                    (Stage::RecordSigned, "signed record numbers", "SELECT count(DISTINCT number) FROM scheduling.records WHERE case_id = $1::uuid AND status = 'signed'"),
                    (Stage::RecordSigned, "rectifications", "SELECT count(*) FROM rectification.rectifications WHERE case_id = $1::uuid"),
                    (
                        Stage::RectificationNoticed,
                        "rectification notice numbers",
                        "SELECT count(DISTINCT number) FROM rectification.documents WHERE case_id = $1::uuid AND kind = 'rectification_notice'",
                    ),
                    (
                        Stage::Reported,
                        "reports through the portal",
                        "SELECT count(*) FROM portal.reports p JOIN rectification.rectifications r ON r.id::text = p.rectification_id WHERE r.case_id = $1::uuid",
                    ),
                    (Stage::Archived, "archives", "SELECT count(*) FROM supervision.archives WHERE case_id = $1::uuid AND status = 'archived'"),
                ];
                for (at, what, sql) in once {
                    let n: i64 = sqlx::query_scalar(sql).bind(&o.case_id).fetch_one(pool).await?;
                    if n > 1 || (stage >= at && n != 1) {
                        bad.push(format!("case {}: {n} {what} (stage {stage:?})", o.case_id));
                    }
                }
                let answers: i64 = sqlx::query_scalar("SELECT count(*) FROM rectification.answers a JOIN rectification.rectifications r ON r.id = a.rectification_id WHERE r.case_id = $1::uuid")
                    .bind(&o.case_id)
                    .fetch_one(pool)
                    .await?;
                if answers > 2 || (*stage >= Stage::Decided && answers != 2) {
                    bad.push(format!("case {}: {answers} acceptance answers (two officers answer once each)", o.case_id));
                }
            }
        }
        verdicts.push(Verdict {
            name: "acknowledged calls applied exactly once",
            ok: bad.is_empty(),
            figure: format!("{} acknowledged calls, {checked} effects checked, {} breaches{}", run.acks.len(), bad.len(), sample(&bad)),
        });
    }

    // 2. Event ids unique on the stream; every committed outbox row reached it.
    let entries = read_stream(js, run.stream).await?;
    {
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut dups = Vec::new();
        for e in &entries {
            if let Some(event) = &e.event {
                if let Some(first) = seen.insert(event.id.clone(), e.seq) {
                    dups.push(format!("{} at seq {first} and {}", event.id, e.seq));
                }
            }
        }
        verdicts.push(Verdict {
            name: "event ids unique on the stream",
            ok: dups.is_empty(),
            figure: format!("{} messages, {} events, {} duplicate ids{}", entries.len(), seen.len(), dups.len(), sample(&dups)),
        });

        let backlog = outbox_backlog(pool).await?;
        let left: i64 = backlog.values().sum();
        // The events each acknowledged step commits, each exactly once on the stream.
        let mut per_case: HashMap<(String, String), usize> = HashMap::new();
        for e in entries.iter().filter_map(|e| e.event.as_ref()) {
            *per_case.entry((e.case_id.clone(), e.r#type.clone())).or_default() += 1;
        }
        let mut missing = Vec::new();
        let mut expected = 0;
        for (o, stage) in run.outcomes {
            let decided = if o.handed_off { "rectification.penalty_handoff" } else { "rectification.accepted" };
            let wanted: &[(Stage, &str)] = &[
                (Stage::CaseOpened, "intake.case_opened"),
                (Stage::Submitted, "intake.case_submitted"),
                (Stage::ReviewPassed, "review.review_passed"),
                (Stage::Approved, "review.case_approved"),
                (Stage::Approved, "scheduling.plan_opened"),
                (Stage::InterviewPlanned, "scheduling.interview_planned"),
                (Stage::NoticeIssued, "scheduling.notice_issued"),
                (Stage::InterviewHeld, "scheduling.interview_started"),
                (Stage::InterviewHeld, "scheduling.interview_held"),
                (Stage::RecordSigned, "scheduling.record_signed"),
                (Stage::RecordSigned, "rectification.opened"),
                (Stage::RectificationNoticed, "rectification.notice_issued"),
                (Stage::Reported, "rectification.report_submitted"),
                (Stage::Decided, decided),
                (Stage::Archived, "supervision.case_closed"),
                (Stage::Archived, "supervision.case_archived"),
            ];
            for (at, kind) in wanted {
                if stage >= at {
                    expected += 1;
                    let n = per_case.get(&(o.case_id.clone(), kind.to_string())).copied().unwrap_or(0);
                    if n != 1 {
                        missing.push(format!("case {} {kind}: {n} on the stream", o.case_id));
                    }
                }
            }
        }
        verdicts.push(Verdict {
            name: "every committed outbox row reached the stream",
            ok: left == 0 && missing.is_empty(),
            figure: format!("outbox rows left {left}; {expected} events of acknowledged steps expected once each, {} not{}", missing.len(), sample(&missing)),
        });
    }

    // 3. Every service's view of each case agrees.
    {
        let mut disagree = Vec::new();
        let mut compared = 0;
        for (o, _) in run.outcomes.iter().filter(|(o, _)| !o.case_id.is_empty()) {
            let intake: Option<String> = sqlx::query_scalar("SELECT status FROM intake.cases WHERE id = $1::uuid").bind(&o.case_id).fetch_optional(pool).await?;
            let review: Option<String> = sqlx::query_scalar("SELECT status FROM review.cases WHERE case_id = $1::uuid").bind(&o.case_id).fetch_optional(pool).await?;
            let plan: Option<String> = sqlx::query_scalar("SELECT status FROM scheduling.plans WHERE case_id = $1::uuid").bind(&o.case_id).fetch_optional(pool).await?;
            let stage: Option<String> = sqlx::query_scalar("SELECT stage FROM supervision.files WHERE case_id = $1::uuid").bind(&o.case_id).fetch_optional(pool).await?;
            let canon_intake = match intake.as_deref() {
                Some("opened") => "preparing",
                Some("submitted") => "review",
                Some("in_approval") => "approval",
                Some("approved") => "approved",
                other => other.unwrap_or("absent"),
            };
            let canon_review = match review.as_deref() {
                None | Some("awaiting_submission") => "preparing",
                Some("in_review") => "review",
                Some("in_approval") => "approval",
                Some("approved") => "approved",
                Some(other) => other,
            };
            let canon_sup = match stage.as_deref() {
                Some("preparing") => "preparing",
                Some("review") => "review",
                Some("approval") => "approval",
                // After approval the file follows scheduling and rectification (below).
                Some("scheduling" | "interview" | "rectification" | "acceptance" | "closed") => "approved",
                other => other.unwrap_or("absent"),
            };
            // After approval: the stage supervision's file must show, from
            // what scheduling and rectification hold.
            let interview: Option<String> = sqlx::query_scalar("SELECT status FROM scheduling.interviews WHERE case_id = $1::uuid").bind(&o.case_id).fetch_optional(pool).await?;
            let rect_status: Option<String> = sqlx::query_scalar("SELECT status FROM rectification.rectifications WHERE case_id = $1::uuid").bind(&o.case_id).fetch_optional(pool).await?;
            let archive: Option<(String, String)> = sqlx::query_as("SELECT status, outcome FROM supervision.archives WHERE case_id = $1::uuid").bind(&o.case_id).fetch_optional(pool).await?;
            let downstream = match (rect_status.as_deref(), interview.as_deref(), plan.as_deref()) {
                (Some("accepted" | "handed_off"), _, _) => Some("closed"),
                (Some("reported"), _, _) => Some("acceptance"),
                (Some(_), _, _) => Some("rectification"),
                (None, Some(_), _) | (None, None, Some("served")) => Some("interview"),
                (None, None, Some(_)) => Some("scheduling"),
                (None, None, None) => None,
            };
            let served_agrees = downstream.is_none_or(|want| stage.as_deref() == Some(want));
            // A decided rectification: the file closed with the same outcome and archived.
            let archive_agrees = match rect_status.as_deref() {
                Some(decided @ ("accepted" | "handed_off")) => {
                    let outcome = if decided == "accepted" { "accepted" } else { "penalty" };
                    archive.as_ref().is_some_and(|(status, o)| status == "archived" && o == outcome)
                }
                _ => archive.is_none(),
            };
            let rect = i64::from(rect_status.is_some() && interview.as_deref() != Some("held"));
            let canon_sched = match plan.as_deref() {
                Some(_) => "approved",
                None => canon_intake, // no plan before approval: nothing to compare
            };
            compared += 1;
            let canon_sched_ok = canon_sched == canon_intake;
            if !(canon_intake == canon_review && canon_review == canon_sup && canon_sched_ok && served_agrees && archive_agrees && rect == 0) {
                disagree.push(format!(
                    "case {}: intake {intake:?}, review {review:?}, scheduling plan {plan:?} interview {interview:?}, rectification {rect_status:?}, supervision {stage:?} archive {archive:?}",
                    o.case_id
                ));
            }
        }
        verdicts.push(Verdict {
            name: "every service's view of each case agrees",
            ok: disagree.is_empty(),
            figure: format!("{compared} cases compared across intake, review, scheduling, rectification, supervision; {} disagree{}", disagree.len(), sample(&disagree)),
        });
    }

    // 4. supervision rebuild equals the live read model. The rebuild
    // replays the injected poison events too and dead-letters them, as the
    // live model did: it reports those on its "skipped … seq a, b, c" line
    // and exits 0 when nothing else differs. Equal, and the skipped events
    // exactly the injected ones.
    {
        let (code, out) = d.cli(&["supervision", "rebuild"])?;
        let headline = out.lines().find(|l| l.starts_with("replayed")).unwrap_or("").to_string();
        let differences: Vec<String> = out.lines().filter(|l| l.starts_with("  ")).map(|l| l.trim().to_string()).collect();
        let skipped: BTreeSet<u64> = out
            .lines()
            .find_map(|l| l.strip_prefix("skipped ").and_then(|rest| rest.split_once(": seq ")).map(|(_, seqs)| seqs.split(", ").filter_map(|n| n.trim().parse().ok()).collect()))
            .unwrap_or_default();
        let poison: BTreeSet<u64> = run.poison.iter().copied().collect();
        let ok = code == 0 && differences.is_empty() && skipped == poison;
        let figure = format!(
            "exit {code}: {headline}; skipped as dead-lettered by both models: seq {skipped:?} (the injected poison events: {poison:?}){}",
            sample(&differences)
        );
        verdicts.push(Verdict { name: "yuetan supervision rebuild equals the live read model", ok, figure });
    }

    // 5. Document numbers gap-free per organ, kind and year: in each
    // service that numbers documents, the distinct numbers of every series
    // (organ code with the kind's character, year) are exactly 1..=n, and
    // the counters' sum equals the numbers issued (a counter moved without
    // its document, or a number given twice, shows).
    {
        let mut problems = Vec::new();
        let mut series = 0;
        let mut issued = 0;
        let sources: &[(&str, &str)] = &[
            ("intake", "SELECT DISTINCT number FROM intake.cases WHERE number <> ''"),
            ("scheduling", "SELECT DISTINCT number FROM scheduling.documents WHERE number <> '' UNION SELECT DISTINCT number FROM scheduling.records WHERE number <> ''"),
            ("rectification", "SELECT DISTINCT number FROM rectification.documents WHERE number <> ''"),
        ];
        for (schema, sql) in sources {
            let numbers: Vec<String> = sqlx::query_scalar(sql).fetch_all(pool).await?;
            let counted: i64 = sqlx::query_scalar(&format!("SELECT coalesce(sum(last), 0)::bigint FROM {schema}.document_counters")).fetch_one(pool).await?;
            let mut by_series: BTreeMap<(String, i32), Vec<u32>> = BTreeMap::new();
            for n in &numbers {
                match yuetan_platform::numbering::DocumentNumber::parse(n) {
                    Ok(parsed) => by_series.entry((parsed.organ_code, parsed.year)).or_default().push(parsed.sequence),
                    Err(_) => problems.push(format!("{schema}: unparsable number {n}")),
                }
            }
            for ((code, year), seqs) in &mut by_series {
                series += 1;
                seqs.sort_unstable();
                let expect: Vec<u32> = (1..=seqs.len() as u32).collect();
                if *seqs != expect {
                    problems.push(format!("{schema} {code}〔{year}〕: {} numbers, first gap or repeat near {:?}", seqs.len(), first_difference(seqs, &expect)));
                }
            }
            issued += numbers.len();
            if counted != numbers.len() as i64 {
                problems.push(format!("{schema}: counters say {counted} numbers issued, {} documents carry one", numbers.len()));
            }
        }
        verdicts.push(Verdict {
            name: "document numbers gap-free per organ, kind and year",
            ok: problems.is_empty(),
            figure: format!("{series} series across intake, scheduling, rectification; {issued} numbers; {} problems{}", problems.len(), sample(&problems)),
        });
    }

    // 6. yuetan audit verify clean.
    {
        let (code, out) = d.cli(&["audit", "verify"])?;
        let summary: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
        verdicts.push(Verdict {
            name: "yuetan audit verify clean",
            ok: code == 0,
            figure: format!("exit {code}: {}", summary.iter().rev().take(3).rev().cloned().collect::<Vec<_>>().join(" | ")),
        });
    }

    // 7. Dead letters: only the injected poison events, each of them there.
    {
        let mut unexpected = Vec::new();
        let mut found: HashSet<u64> = HashSet::new();
        let mut total = 0;
        for schema in SCHEMAS {
            let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(format!("{schema}.dead_letters")).fetch_one(pool).await?;
            if !exists {
                continue;
            }
            let rows = sqlx::query(&format!("SELECT consumer, stream_seq, subject, error FROM {schema}.dead_letters")).fetch_all(pool).await?;
            for row in rows {
                total += 1;
                let (consumer, seq, subject, error): (String, i64, String, String) = (row.get(0), row.get(1), row.get(2), row.get(3));
                if run.poison.contains(&(seq as u64)) {
                    found.insert(seq as u64);
                } else {
                    unexpected.push(format!("{schema}/{consumer} seq {seq} {subject}: {}", error.chars().take(120).collect::<String>()));
                }
            }
        }
        let absent: Vec<u64> = run.poison.iter().filter(|s| !found.contains(s)).copied().collect();
        verdicts.push(Verdict {
            name: "dead letters: only the injected poison events, all of them",
            ok: unexpected.is_empty() && absent.is_empty(),
            figure: format!(
                "{total} dead letters; {} poison events injected, {} dead-lettered, {} missing {absent:?}; {} unexpected{}",
                run.poison.len(),
                found.len(),
                absent.len(),
                unexpected.len(),
                sample(&unexpected)
            ),
        });
    }

    // 8. No message sent twice to a party: what the SMS provider peer
    // received, per recipient and notice (one notice per lifecycle's own
    // number), at most once; and scheduling's attempts agree.
    {
        let dup: Vec<(String, i64)> = sqlx::query_as(
            "SELECT service_id::text || ' ' || channel, count(*) FROM scheduling.attempts \
             WHERE status IN ('sent', 'delivered') GROUP BY 1 HAVING count(*) > 1",
        )
        .fetch_all(pool)
        .await?;
        let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM scheduling.attempts").fetch_one(pool).await.unwrap_or(0);
        // What each provider peer received, per recipient and content (the
        // document and its link or title): the same message twice is a
        // duplicate send.
        let sms = d.sms.messages();
        let mail = d.smtp.messages();
        let egov = d.egov.messages();
        let mut per_message: BTreeMap<(&str, String, String), usize> = BTreeMap::new();
        let mut per_recipient: BTreeMap<(&str, String), usize> = BTreeMap::new();
        for m in &sms {
            *per_message.entry(("SMS", m.phone.clone(), m.template_param.to_string())).or_default() += 1;
            *per_recipient.entry(("SMS", m.phone.clone())).or_default() += 1;
        }
        // E-mail: SMTP has no idempotent send. A send whose recording failed
        // after the server took it (the process killed, or its transaction
        // aborted) is sent again by the timer with the same Message-ID
        // (`<attempt id@yuetan>`): the same message, which the recipient's
        // store can recognise; counted once, and the repeats reported.
        let mut mail_ids: BTreeMap<(String, String), usize> = BTreeMap::new();
        for m in &mail {
            for to in &m.to {
                *mail_ids.entry((to.clone(), m.message_id.clone())).or_default() += 1;
            }
        }
        let mail_repeats: usize = mail_ids.values().map(|n| n - 1).sum();
        let mut mail_subjects: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        for m in &mail {
            for to in &m.to {
                mail_subjects.entry((to.clone(), m.subject.clone())).or_default().insert(m.message_id.clone());
            }
        }
        for ((to, subject), ids) in &mail_subjects {
            per_message.insert(("e-mail", to.clone(), subject.clone()), ids.len());
        }
        for (to, _) in mail_ids.keys() {
            *per_recipient.entry(("e-mail", to.clone())).or_default() += 1;
        }
        for m in &egov {
            *per_message.entry(("e-delivery", m.recipient_account.clone(), m.title.clone())).or_default() += 1;
            *per_recipient.entry(("e-delivery", m.recipient_account.clone())).or_default() += 1;
        }
        let twice: Vec<String> = per_message.iter().filter(|(_, n)| **n > 1).map(|((via, to, what), n)| format!("{via} {} received {what:.60} {n} times", yuetan_testkit::peers::mask_phone(to))).collect();
        // Each lifecycle's own addresses got exactly the documents served to
        // it — the interview notice, the rectification notice and (accepted)
        // the certificate — on its route's channels (the fallback route: each
        // by SMS, reported failed, then by e-mail).
        let mut wrong: Vec<String> = Vec::new();
        let mut documents = 0;
        let mut routes: BTreeMap<String, usize> = BTreeMap::new();
        for (o, stage) in run.outcomes {
            let served = usize::from(*stage >= Stage::Served) + usize::from(*stage >= Stage::RectificationNoticed) + usize::from(*stage >= Stage::Decided && !o.handed_off);
            documents += served;
            *routes.entry(format!("{:?}", o.route)).or_default() += 1;
            let (per_sms, per_mail, per_egov) = o.route.messages_per_document();
            for (via, to, per) in [("SMS", &o.sms_number, per_sms), ("e-mail", &o.email, per_mail), ("e-delivery", &o.egov_account, per_egov)] {
                let expected = served * per;
                let got = per_recipient.get(&(via, to.clone())).copied().unwrap_or(0);
                // A document sent but not yet receipted when the lifecycle stopped: at most one more.
                if got < expected || got > expected + per || (*stage == FINAL && got != expected) {
                    wrong.push(format!("lifecycle {} ({:?}, stage {stage:?}): {got} by {via}, {served} documents served", o.index, o.route));
                }
            }
        }
        verdicts.push(Verdict {
            name: "no message sent twice to a party",
            ok: dup.is_empty() && twice.is_empty() && wrong.is_empty(),
            figure: format!(
                "the peers received {} SMS, {} e-mails ({mail_repeats} of them repeats with the same Message-ID), {} e-deliveries for {} recipients, none twice{}; {documents} documents served in the lifecycles (routes {routes:?}), each party's addresses received exactly those{}; {attempts} delivery attempts recorded, {} documents sent more than once on a channel",
                sms.len(),
                mail.len(),
                egov.len(),
                per_recipient.len(),
                if twice.is_empty() { String::new() } else { format!(" — NOT SO: {}", twice.iter().take(5).cloned().collect::<Vec<_>>().join("; ")) },
                if wrong.is_empty() { String::new() } else { format!(" — NOT SO{}", sample(&wrong)) },
                dup.len()
            ),
        });
    }
    Ok(verdicts)
}

fn first_difference(a: &[u32], b: &[u32]) -> Option<u32> {
    a.iter().zip(b).find(|(x, y)| x != y).map(|(x, _)| *x).or_else(|| if a.len() != b.len() { Some(a.len().min(b.len()) as u32 + 1) } else { None })
}

fn sample(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(": {}", items.iter().take(5).cloned().collect::<Vec<_>>().join("; "))
    }
}

/// The deployment's stream name and a JetStream context on its NATS.
pub async fn jetstream(d: &Deployment) -> Result<async_nats::jetstream::Context> {
    let client = yuetan_platform::bus::client_options(&d.nats_url)
        .connect(yuetan_platform::bus::servers(&d.nats_url))
        .await
        .context("connecting to NATS")?;
    Ok(async_nats::jetstream::new(client))
}
