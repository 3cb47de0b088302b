//! Files (clue → case) built from every service's events: the file's stage
//! and outcome, its timeline, the board's counters and the deadline cards
//! of every step with a time limit (R-SUP-3, R-START-5):
//!
//! | step                | opens on                         | deadline                      | closes on |
//! |---------------------|----------------------------------|-------------------------------|-----------|
//! | `clue_verification` | intake.clue_registered           | its verification deadline (3 WD) | clue_verified / clue_excluded |
//! | `clue_to_approval`  | intake.clue_registered           | received + 15 WD (R-START-5)  | case_approved, or the file closing |
//! | `legality_review`   | review.review_opened             | its deadline (2 / 5 WD)       | review passed / returned / rejected |
//! | `approval`          | review.review_passed             | its approval deadline (1 / 3 WD) | case_approved / case_denied |
//! | `notice`            | scheduling.plan_opened           | its notice deadline (2 WD)    | notice_issued |
//! | `interview`         | the notice served                | served + 5 WD (urgent: 24 h)  | interview_held / interview_refused |
//! | `record`            | scheduling.interview_held        | its record due (5 WD)         | record_signed |
//! | `follow_up`         | rectification opened, each ledger entry | + the cadence (days)   | the next ledger entry, the file closing |
//! | `report`            | rectification.rectification_opened | its report due (3 WD before the deadline) | report_submitted |
//! | `acceptance`        | rectification.report_submitted   | its acceptance due (5 WD)     | accepted / acceptance_failed |
//!
//! Everything is a function of the events (their times, not the clock), so
//! a replay into an empty schema builds the same model. A case event that
//! arrives before its clue's registration waits for it.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::consumer::HandlerError;
use yuetan_platform::fields::{cst_date, from_timestamp};
use yuetan_platform::Error;
use yuetan_proto::common::Date;
use yuetan_proto::events::event::Payload;
use yuetan_proto::events::Event;

use crate::domain::{self, metric, Colour};
use crate::flow::NewCard;
use crate::store::{self, FileRow, TimelineRow};
use crate::State;

pub const CLUE_VERIFICATION: &str = "clue_verification";
pub const CLUE_TO_APPROVAL: &str = "clue_to_approval";
pub const LEGALITY_REVIEW: &str = "legality_review";
pub const APPROVAL: &str = "approval";
pub const NOTICE: &str = "notice";
pub const INTERVIEW: &str = "interview";
pub const RECORD: &str = "record";
pub const FOLLOW_UP: &str = "follow_up";
pub const REPORT: &str = "report";
pub const ACCEPTANCE: &str = "acceptance";
/// R-START-5: clue to approval within 15 working days.
pub const START_LIMIT_WORKING_DAYS: u32 = 15;
/// R-RECT-3: the report is due this many working days before the deadline.
pub const REPORT_WORKING_DAYS_BEFORE: u32 = 3;
/// Interview within 5 working days of the notice's service (urgent: 24 h).
pub const INTERVIEW_LIMIT_WORKING_DAYS: u32 = 5;

pub(crate) fn day_of(d: Option<&Date>) -> Option<NaiveDate> {
    d.and_then(|d| d.iso.parse().ok())
}

fn uuid(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s).ok()
}

/// What one event does to its file, beside its timeline line.
struct Change<'a> {
    state: &'a State,
    file: FileRow,
    stage_before: String,
    day: NaiveDate,
    now: DateTime<Utc>,
    /// The deadline the event met or missed, for the timeline.
    deadline: Option<(NaiveDate, bool)>,
}

impl Change<'_> {
    fn month(&self) -> NaiveDate {
        store::month_of(self.day)
    }

    async fn tally(&self, conn: &mut PgConnection, metric: &str, n: i64) -> Result<(), Error> {
        store::add_tally(conn, &self.file.division, &self.file.section, self.month(), metric, n).await
    }

    async fn open(&self, conn: &mut PgConnection, step: &str, subject: &str, deadline: Option<NaiveDate>) -> Result<(), Error> {
        let Some(deadline) = deadline else { return Ok(()) };
        let card = NewCard {
            step,
            subject_id: subject,
            case_id: self.file.case_id,
            division: &self.file.division,
            organ: &self.file.organ,
            section: &self.file.section,
            opened_on: self.day,
            deadline,
        };
        self.state.open_card(conn, card, self.now).await
    }

    async fn close(&mut self, conn: &mut PgConnection, step: &str, subject: &str) -> Result<Option<(NaiveDate, bool)>, Error> {
        let closed = self.state.close_card(conn, step, subject, self.file.case_id, self.day, self.now).await?;
        if closed.is_some() {
            self.deadline = closed;
        }
        Ok(closed)
    }

    async fn close_follow_ups(&mut self, conn: &mut PgConnection) -> Result<(), Error> {
        if let Some(case_id) = self.file.case_id {
            if let Some(d) = self.state.close_open_cards_of_case(conn, FOLLOW_UP, case_id, self.day, self.now).await? {
                self.deadline = Some(d);
            }
        }
        Ok(())
    }

    /// A file only moves forward: events of different services may be
    /// applied in another order than they happened (each service's own are
    /// in order), and the stage must come out the same.
    fn stage(&mut self, stage: &str) {
        if domain::stage_rank(stage) > domain::stage_rank(&self.file.stage) {
            self.file.stage = stage.into();
        }
    }

    /// The file closes (accepted, penalty, excluded, rejected, denied, refused):
    /// counted closed, its open cards of the start limit closed with it.
    async fn close_file(&mut self, conn: &mut PgConnection, outcome: &str) -> Result<(), Error> {
        if self.file.stage == "closed" {
            return Ok(());
        }
        self.file.stage = "closed".into();
        self.file.outcome = Some(outcome.into());
        self.file.closed_on = Some(self.day);
        self.tally(conn, metric::CLOSED, 1).await?;
        self.state.close_card(conn, CLUE_TO_APPROVAL, &self.file.id.to_string(), self.file.case_id, self.day, self.now).await?;
        self.close_follow_ups(conn).await?;
        // R-DOC-3: supervision.case_closed, the archive's card and timer.
        crate::flow::archive::file_closed(self.state, conn, &self.file, self.now).await
    }

    /// Writes the file, its stage gauges, and the timeline line.
    async fn finish(self, conn: &mut PgConnection, event: &Event, event_id: Uuid, at: DateTime<Utc>) -> Result<(), Error> {
        if self.file.stage != self.stage_before {
            let gauge = |stage: &str| (stage != "closed").then(|| metric::stage(stage));
            if let Some(m) = gauge(&self.stage_before) {
                store::add_tally(conn, &self.file.division, &self.file.section, store::live(), &m, -1).await?;
            }
            if let Some(m) = gauge(&self.file.stage) {
                store::add_tally(conn, &self.file.division, &self.file.section, store::live(), &m, 1).await?;
            }
        }
        let mut file = self.file;
        file.updated_at = at;
        store::update_file(conn, &file).await?;
        let actor = event.actor.as_ref();
        store::insert_timeline(
            conn,
            &TimelineRow {
                event_id,
                file_id: file.id,
                occurred_at: at,
                event_type: event.r#type.clone(),
                actor: actor.map(|a| a.officer_id.clone()).filter(|a| !a.is_empty()).unwrap_or_else(|| yuetan_platform::ordering::source_of(&event.r#type).to_string()),
                actor_name: actor.map(|a| a.name.clone()).unwrap_or_default(),
                summary: summary(event),
                deadline: self.deadline.map(|d| d.0),
                met: self.deadline.map(|d| d.1),
            },
        )
        .await
    }
}

impl State {
    /// An event of intake, review, scheduling or rectification.
    pub async fn apply_file_event(&self, conn: &mut PgConnection, event: &Event, event_id: Uuid) -> Result<(), HandlerError> {
        let Some(payload) = &event.payload else { return Ok(()) };
        let at = from_timestamp(event.occurred_at.as_ref()).unwrap_or_else(|| self.clock.now());
        let day = cst_date(at);
        // The clue's registration makes the file; everything else finds it.
        if let Payload::ClueRegistered(c) = payload {
            return Ok(self.clue_registered(conn, event, event_id, c, at).await?);
        }
        let file = match payload {
            Payload::ClueVerified(v) => self.clue_file(conn, &v.clue_id).await?,
            Payload::ClueExcluded(x) => self.clue_file(conn, &x.clue_id).await?,
            _ => match uuid(&event.case_id) {
                Some(case_id) => match store::file_of_case(conn, case_id, true).await? {
                    Some(f) => f,
                    None => return Err(HandlerError::waiting(format!("the file of case {case_id} is not known yet"))),
                },
                // Events without a case (officer updates, document reviews of no case): nothing to file.
                None => return Ok(()),
            },
        };
        let mut c = Change { state: self, stage_before: file.stage.clone(), file, day, now: self.clock.now(), deadline: None };
        self.apply_case_event(conn, &mut c, event, payload).await?;
        c.finish(conn, event, event_id, at).await?;
        Ok(())
    }

    async fn clue_file(&self, conn: &mut PgConnection, clue_id: &str) -> Result<FileRow, HandlerError> {
        let id = uuid(clue_id).ok_or_else(|| HandlerError::failed(format!("clue id {clue_id:?}")))?;
        store::file(conn, id).await?.ok_or_else(|| HandlerError::waiting(format!("clue {id} is not registered here yet")))
    }

    async fn clue_registered(&self, conn: &mut PgConnection, event: &Event, event_id: Uuid, c: &yuetan_proto::events::ClueRegistered, at: DateTime<Utc>) -> Result<(), Error> {
        let Some(id) = uuid(&c.clue_id) else { return Ok(()) };
        let received = day_of(c.received_on.as_ref()).unwrap_or_else(|| cst_date(at));
        let file = FileRow {
            id,
            case_id: None,
            number: String::new(),
            division: event.jurisdiction.clone(),
            organ: event.organ.clone(),
            section: c.section.clone(),
            urgent: c.urgency == "urgent",
            major: false,
            stage: "clue".into(),
            outcome: None,
            received_on: Some(received),
            opened_on: received,
            approved_on: None,
            closed_on: None,
            interviewers: Vec::new(),
            updated_at: at,
            co_departments: Vec::new(),
        };
        if !store::insert_file(conn, &file).await? {
            return Ok(());
        }
        store::add_tally(conn, &file.division, &file.section, store::month_of(received), metric::NEW, 1).await?;
        store::add_tally(conn, &file.division, &file.section, store::live(), &metric::stage("clue"), 1).await?;
        let ch = Change { state: self, stage_before: "clue".into(), file, day: received, now: self.clock.now(), deadline: None };
        let subject = id.to_string();
        ch.open(conn, CLUE_VERIFICATION, &subject, day_of(c.verification_deadline.as_ref())).await?;
        let start_limit = self.calendar.current().add_working_days(received, START_LIMIT_WORKING_DAYS).map_err(|e| Error::Internal(e.to_string()))?.value;
        ch.open(conn, CLUE_TO_APPROVAL, &subject, Some(start_limit)).await?;
        ch.finish(conn, event, event_id, at).await
    }

    async fn apply_case_event(&self, conn: &mut PgConnection, c: &mut Change<'_>, event: &Event, payload: &Payload) -> Result<(), Error> {
        let case_id = uuid(&event.case_id);
        let clue = c.file.id.to_string();
        match payload {
            Payload::ClueVerified(_) => {
                c.file.case_id = case_id.or(c.file.case_id);
                c.stage("preparing");
                c.close(conn, CLUE_VERIFICATION, &clue).await?;
            }
            Payload::ClueExcluded(_) => {
                c.file.case_id = case_id.or(c.file.case_id);
                c.close(conn, CLUE_VERIFICATION, &clue).await?;
                c.close_file(conn, "excluded").await?;
            }
            Payload::CaseOpened(o) => {
                c.file.number = o.number.clone();
                c.file.major = o.major;
                c.file.urgent = c.file.urgent || o.urgency == "urgent";
                if !o.lead_organ.is_empty() {
                    c.file.organ = o.lead_organ.clone();
                }
                c.file.co_departments = o.co_departments.clone();
            }
            Payload::CaseSubmitted(_) | Payload::CaseResubmitted(_) => c.stage("review"),
            Payload::ReviewOpened(r) => {
                c.stage("review");
                c.open(conn, LEGALITY_REVIEW, &r.task_id, day_of(r.deadline.as_ref())).await?;
            }
            Payload::ReviewPassed(p) => {
                c.close(conn, LEGALITY_REVIEW, &p.task_id).await?;
                if p.round <= 1 {
                    c.tally(conn, metric::DOCS_REVIEWED, 1).await?;
                    c.tally(conn, metric::DOCS_FIRST_PASS, 1).await?;
                }
                c.stage("approval");
                c.open(conn, APPROVAL, &p.approval_task_id, day_of(p.approval_deadline.as_ref())).await?;
            }
            Payload::ReviewReturned(r) => {
                c.close(conn, LEGALITY_REVIEW, &r.task_id).await?;
                if r.round <= 1 {
                    c.tally(conn, metric::DOCS_REVIEWED, 1).await?;
                }
                // Back to intake for the supplement (never back from a later stage).
                if c.file.stage == "review" {
                    c.file.stage = "preparing".into();
                }
            }
            Payload::ReviewRejected(r) => {
                c.close(conn, LEGALITY_REVIEW, &r.task_id).await?;
                if r.round <= 1 {
                    c.tally(conn, metric::DOCS_REVIEWED, 1).await?;
                }
                c.close_file(conn, "rejected").await?;
            }
            Payload::DocumentReviewDecided(d) if d.revision <= 1 => {
                c.tally(conn, metric::DOCS_REVIEWED, 1).await?;
                if d.decision == "pass" {
                    c.tally(conn, metric::DOCS_FIRST_PASS, 1).await?;
                }
            }
            Payload::CaseApproved(a) => {
                c.close(conn, APPROVAL, &a.task_id).await?;
                let approved = day_of(a.approved_on.as_ref()).unwrap_or(c.day);
                c.file.approved_on = Some(approved);
                let start = self.close_card(conn, CLUE_TO_APPROVAL, &clue, c.file.case_id, approved, c.now).await?;
                c.tally(conn, metric::APPROVED, 1).await?;
                if start.is_none_or(|(_, met)| met) {
                    c.tally(conn, metric::APPROVED_TIMELY, 1).await?;
                }
                c.stage("scheduling");
            }
            Payload::CaseDenied(d) => {
                c.close(conn, APPROVAL, &d.task_id).await?;
                c.close_file(conn, "denied").await?;
            }
            Payload::PlanOpened(p) => {
                c.stage("scheduling");
                c.open(conn, NOTICE, &p.plan_id, day_of(p.notice_deadline.as_ref())).await?;
            }
            Payload::NoticeIssued(n) => {
                c.close(conn, NOTICE, &n.plan_id).await?;
            }
            Payload::InterviewPlanned(p) => {
                c.file.interviewers = p.interviewers.clone();
            }
            Payload::DocumentServed(d) => {
                // The interview notice served (the first scheduling document
                // served before the interview): the interview is due. Judged
                // on scheduling's own events (in order), not the stage, which
                // other services' events may already have moved on.
                let before_interview = !store::has_entry(conn, c.file.id, "scheduling.interview_held").await? && !store::has_entry(conn, c.file.id, "scheduling.interview_refused").await?;
                if d.source_service == "scheduling" && before_interview {
                    let served = from_timestamp(d.served_at.as_ref()).map(cst_date).unwrap_or(c.day);
                    let due = if c.file.urgent {
                        served + Duration::days(1)
                    } else {
                        self.calendar.current().add_working_days(served, INTERVIEW_LIMIT_WORKING_DAYS).map_err(|e| Error::Internal(e.to_string()))?.value
                    };
                    c.stage("interview");
                    if let Some(case_id) = c.file.case_id {
                        c.open(conn, INTERVIEW, &case_id.to_string(), Some(due)).await?;
                    }
                }
            }
            Payload::InterviewHeld(h) => {
                if let Some(case_id) = c.file.case_id {
                    c.close(conn, INTERVIEW, &case_id.to_string()).await?;
                }
                c.tally(conn, metric::INTERVIEWS_HELD, 1).await?;
                c.stage("interview");
                c.open(conn, RECORD, &h.interview_id, day_of(h.record_due.as_ref())).await?;
            }
            Payload::RecordSigned(r) => {
                c.close(conn, RECORD, &r.interview_id).await?;
            }
            Payload::InterviewRefused(_) => {
                if let Some(case_id) = c.file.case_id {
                    c.close(conn, INTERVIEW, &case_id.to_string()).await?;
                }
                c.close_file(conn, "refused").await?;
            }
            Payload::RectificationOpened(r) => {
                c.stage("rectification");
                c.tally(conn, metric::RECT_OPENED, 1).await?;
                c.open(conn, REPORT, &r.rectification_id, day_of(r.report_due.as_ref())).await?;
                if r.cadence_days > 0 {
                    let due = c.day + Duration::days(i64::from(r.cadence_days));
                    c.open(conn, FOLLOW_UP, &format!("{}@{}", r.rectification_id, c.day), Some(due)).await?;
                }
            }
            Payload::LedgerEntryAdded(l) => {
                let on = day_of(l.on.as_ref()).unwrap_or(c.day);
                let cadence = match c.file.case_id {
                    Some(case_id) => store::open_cards_of_case(conn, FOLLOW_UP, case_id).await?.first().map(|k| k.deadline - k.opened_on),
                    None => None,
                };
                let day = c.day;
                c.day = on;
                c.close_follow_ups(conn).await?;
                if let Some(cadence) = cadence {
                    c.open(conn, FOLLOW_UP, &format!("{}@{}", l.rectification_id, on), Some(on + cadence)).await?;
                }
                c.day = day;
            }
            Payload::FollowUpOverdue(_) if !store::has_entry(conn, c.file.id, &event.r#type).await? => {
                c.tally(conn, metric::RECT_FOLLOW_UP_MISSED, 1).await?;
            }
            Payload::RectificationExtended(e) if e.approved => {
                if let Some(new) = day_of(e.new_deadline.as_ref()) {
                    // The report is due three working days before the new deadline (R-RECT-3).
                    let report_due = self.calendar.current().working_days_before(new, REPORT_WORKING_DAYS_BEFORE).map_err(|e| Error::Internal(e.to_string()))?.value;
                    self.move_card_deadline(conn, REPORT, &e.rectification_id, report_due, c.day, c.now).await?;
                }
            }
            Payload::ReportSubmitted(r) => {
                c.close(conn, REPORT, &r.rectification_id).await?;
                c.stage("acceptance");
                c.open(conn, ACCEPTANCE, &r.rectification_id, day_of(r.acceptance_due.as_ref())).await?;
            }
            Payload::RectificationAccepted(a) => {
                c.close(conn, ACCEPTANCE, &a.rectification_id).await?;
                c.tally(conn, metric::ACCEPT_DECIDED, 1).await?;
                c.tally(conn, metric::ACCEPT_PASSED, 1).await?;
                c.close_file(conn, "accepted").await?;
            }
            Payload::AcceptanceFailed(a) => {
                c.close(conn, ACCEPTANCE, &a.rectification_id).await?;
                c.tally(conn, metric::ACCEPT_DECIDED, 1).await?;
            }
            Payload::PenaltyHandoff(_) => {
                c.close_file(conn, "penalty").await?;
            }
            Payload::Reinspected(r) => {
                c.tally(conn, metric::REINSPECTED, 1).await?;
                if r.passed {
                    c.tally(conn, metric::REINSPECT_PASSED, 1).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Supervision's own card, roll-up, award and warning events: live their
    /// rows are there; in a rebuild they are written from the event.
    pub async fn apply_own_event(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        match &event.payload {
            Some(Payload::CardChanged(c)) => {
                // Published after its card opened; in a replay the opening
                // event may still wait for its predecessor: wait for it.
                let Some(card) = store::card_of(conn, &c.step, &c.subject_id).await? else {
                    return Err(HandlerError::waiting(format!("card {}/{} is not open here yet", c.step, c.subject_id)));
                };
                let to = match Colour::from_name(&c.colour) {
                    Some(to) if to != Colour::Green => to,
                    _ => return Ok(()),
                };
                let at = from_timestamp(event.occurred_at.as_ref()).unwrap_or_else(|| self.clock.now());
                Ok(self.replay_turn(conn, card, to, at).await?)
            }
            Some(Payload::AwardEligibilityLost(a)) => {
                store::lose_award(conn, &a.division, &a.section, a.year).await?;
                Ok(())
            }
            Some(Payload::DailyRollup(r)) => Ok(self.replay_rollup(conn, event, r).await?),
            Some(Payload::SectionWarned(w)) => {
                if let Some(month) = w.months.last() {
                    store::insert_warning(conn, &w.division, &w.section, month, &w.scores, w.baseline).await?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A card change replayed (rebuild): the colour, its gauges and the
    /// section's red run, no event. A card the replay has already closed
    /// still takes the colour (live it turned before it closed, or there
    /// would be no event), without gauges: those count open cards.
    pub(crate) async fn replay_turn(&self, conn: &mut PgConnection, mut card: store::CardRow, to: Colour, at: DateTime<Utc>) -> Result<(), Error> {
        let from = crate::flow::colour_of(&card.colour);
        if from >= to {
            return Ok(());
        }
        card.colour = to.as_str().into();
        card.changed_at = at;
        store::update_card(conn, &card).await?;
        if card.closed {
            return Ok(());
        }
        store::add_tally(conn, &card.division, &card.section, store::live(), &metric::card(from.as_str()), -1).await?;
        store::add_tally(conn, &card.division, &card.section, store::live(), &metric::card(to.as_str()), 1).await?;
        if to == Colour::Red {
            store::add_red_run(conn, &card.division, &card.section, cst_date(at).year()).await?;
        }
        Ok(())
    }
}

/// One line of what an event says, for the timeline.
fn summary(event: &Event) -> String {
    let Some(p) = &event.payload else { return event.r#type.clone() };
    match p {
        Payload::ClueRegistered(c) => format!("线索登记（{}）", c.violation_type),
        Payload::ClueVerified(_) => "线索核查：予以约谈立案".into(),
        Payload::ClueExcluded(x) => format!("线索核查：不予约谈（{}）", x.exclusions.iter().map(|e| e.code.as_str()).collect::<Vec<_>>().join("、")),
        Payload::CaseOpened(o) => format!("立案 {}", o.number),
        Payload::CaseSubmitted(s) => format!("提请法制审核（第{}轮）", s.round),
        Payload::CaseResubmitted(s) => format!("补充后重新提请审核（第{}轮）", s.round),
        Payload::ReviewOpened(r) => format!("法制审核开始（第{}轮，{}个工作日）", r.round, r.limit_working_days),
        Payload::ReviewPassed(_) => "法制审核通过".into(),
        Payload::ReviewReturned(r) => format!("法制审核退回补充：{}", r.missing),
        Payload::ReviewRejected(_) => "法制审核不予通过".into(),
        Payload::ReviewDeadlineMissed(r) => format!("{} 超过期限", r.task_kind),
        Payload::CaseApproved(_) => "负责人批准约谈".into(),
        Payload::CaseDenied(_) => "负责人不予批准".into(),
        Payload::PlanOpened(p) => format!("约谈计划 {}", p.number),
        Payload::InterviewPlanned(p) => format!("约谈安排：{}（{}）", p.place, p.mode),
        Payload::NoticeIssued(n) => format!("约谈通知书 {}", n.number),
        Payload::ServiceRequested(s) => format!("送达 {}（{}）", s.document_name, s.channels.join("、")),
        Payload::DocumentServed(d) => format!("已送达 {}（{}）", d.document_number, d.channel),
        Payload::ServiceFailed(f) => format!("送达失败（{}）：{}", f.channel, f.reason),
        Payload::NoticeDeadlineMissed(_) => "约谈通知书超过期限未发出".into(),
        Payload::RescheduleNeeded(r) => format!("需要改期：{}", r.reason),
        Payload::InterviewStarted(_) => "约谈开始".into(),
        Payload::ParticipantJoined(p) => format!("{}（{}）进入", p.name, p.role),
        Payload::ParticipantLeft(p) => format!("{}（{}）离开", p.name, p.role),
        Payload::InterviewHeld(h) => format!("约谈结束，整改事项{}项", h.items.len()),
        Payload::PartyAbsent(a) => format!("当事人未到（{}）", a.kind),
        Payload::RecordSigned(r) => format!("约谈记录 {} 签署", r.number),
        Payload::RecordOverdue(_) => "约谈记录超过期限".into(),
        Payload::CriminalClueTransferred(t) => format!("涉嫌犯罪线索移送 {}", t.transferred_to),
        Payload::InterviewRefused(_) => "当事人拒不接受约谈".into(),
        Payload::RectificationOpened(r) => format!("整改开始，{}项，期限至{}", r.items.len(), r.deadline.as_ref().map(|d| d.iso.as_str()).unwrap_or("")),
        Payload::RectificationNoticeIssued(n) => format!("整改通知书 {}", n.number),
        Payload::LedgerEntryAdded(l) => format!("跟踪检查（{}）", l.method),
        Payload::FollowUpOverdue(_) => "跟踪检查超过周期".into(),
        Payload::ReportSubmitted(r) => format!("收到整改报告（{}）", r.channel),
        Payload::ReportLate(_) => "整改报告逾期".into(),
        Payload::RectificationExtended(e) => format!("延期申请{}", if e.approved { "批准" } else { "不予批准" }),
        Payload::RectificationAccepted(a) => format!("整改验收通过 {}", a.certificate_number),
        Payload::AcceptanceFailed(_) => "整改验收未通过".into(),
        Payload::PenaltyHandoff(_) => "移交行政处罚程序".into(),
        Payload::Reinspected(r) => format!("复查{}", if r.passed { "合格" } else { "不合格" }),
        _ => event.r#type.clone(),
    }
}
