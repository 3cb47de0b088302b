//! Scheduling's timers:
//! - `scheduling.notice_deadline` (R-NOTICE-1): 2 working days after approval,
//!   the plan still without a notice → `scheduling.notice_deadline_missed`, once;
//! - `scheduling.send`: hands a queued attempt to its channel. The send runs
//!   inside the sweeper's transaction and the attempt id is the provider's
//!   idempotency key: if the process dies after the provider took the
//!   message and before the commit, the timer fires again and the provider
//!   recognises the repeat (same OutId / msgId / Message-ID);
//! - `scheduling.arrival`: no delivery report or acknowledgement in time →
//!   the attempt failed and the next channel is tried (R-NOTICE-2);
//! - `scheduling.video_room_open` / `video_room_close`: create and destroy a
//!   video interview's room on the server, inside the timer's transaction
//!   (see `video.rs`); closing references the recordings and draws up the record;
//! - `scheduling.record_due` (R-INT-4): 5 working days after the interview,
//!   no signed record → `scheduling.record_overdue`, once.

use std::sync::Arc;

use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::pii::PiiVault;
use yuetan_platform::timers::{Timer, TimerHandler};
use yuetan_platform::Error;

use crate::domain::Channel;
use crate::flow::interview::{RECORD_TIMER, ROOM_CLOSE_TIMER, ROOM_OPEN_TIMER};
use crate::flow::{ARRIVAL_TIMER, NOTICE_TIMER, SEND_TIMER};
use crate::store::interview::{self as istore, StoredRecording};
use crate::{store, State};

#[derive(Debug, Clone)]
pub struct SchedulingTimers {
    pub state: Arc<State>,
}

fn key(timer: &Timer) -> Result<Uuid, Error> {
    Uuid::parse_str(&timer.key).map_err(|e| Error::Internal(format!("timer key: {e}")))
}

/// The context an address is sealed under (the attempt's service).
pub fn address_context(case_id: Uuid, channel: &str) -> String {
    format!("scheduling.address/{case_id}/{channel}")
}

pub fn open_address(vault: &PiiVault, case_id: Uuid, channel: &str, sealed: &[u8]) -> Result<String, Error> {
    vault.open(sealed, &address_context(case_id, channel))
}

impl SchedulingTimers {
    async fn notice_deadline(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
        let plan_id = key(timer)?;
        let Some(peek) = store::plan(conn, plan_id, false).await? else { return Ok(()) };
        let Some(case) = store::case(conn, peek.case_id, true).await? else { return Ok(()) };
        let plan = match store::plan_unless_locked(conn, plan_id).await? {
            Ok(plan) => plan,
            Err(true) => return Err(Error::Unavailable(format!("plan {plan_id} is being changed; its limit is checked again later"))),
            Err(false) => return Ok(()),
        };
        if plan.notice_document_id.is_some() || plan.notice_deadline_missed {
            return Ok(());
        }
        let now = self.state.clock.now();
        self.state.notice_deadline_missed(conn, case, plan, timer.id, now).await
    }

    async fn send(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
        let attempt_id = key(timer)?;
        let Some(peek) = store::attempt(conn, attempt_id, false).await? else { return Ok(()) };
        let service = match store::service_unless_locked(conn, peek.service_id).await? {
            Ok(s) => s,
            Err(true) => return Err(Error::Unavailable(format!("service {} is being changed; sending later", peek.service_id))),
            Err(false) => return Ok(()),
        };
        let Some(attempt) = store::attempt(conn, attempt_id, true).await? else { return Ok(()) };
        if attempt.status != "queued" || service.status == "served" {
            return Ok(());
        }
        let now = self.state.clock.now();
        let causation = timer.id.to_string();
        let channel = Channel::parse(&attempt.channel).ok_or_else(|| Error::Internal(format!("attempt {attempt_id} has channel {}", attempt.channel)))?;
        let sealed = attempt.address_sealed.clone().unwrap_or_default();
        let address = open_address(&self.state.vault, service.case_id, channel.as_str(), &sealed)?;
        let link = self.state.link_for(&service, &attempt, now);
        let document = format!("{} {}", service.document_name, service.document_number);
        match self.state.channels.send(channel, &attempt.id.to_string(), &address, &document, &link).await {
            Ok(sent) => {
                // The provider has the message: record it rather than give up on a lock.
                yuetan_platform::timers::wait_for_locks_after_side_effect(conn).await?;
                if self.state.settings.hang_after_send {
                    tracing::warn!(attempt = %attempt.id, "fault injection: hanging after the provider took the message");
                    std::future::pending::<()>().await;
                }
                self.state.attempt_sent(conn, service, attempt, sent, &causation, now).await
            }
            Err(reason) => self.state.attempt_failed(conn, service, attempt, &reason, &causation, now).await,
        }
    }

    async fn arrival(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
        let attempt_id = key(timer)?;
        let Some(peek) = store::attempt(conn, attempt_id, false).await? else { return Ok(()) };
        let service = match store::service_unless_locked(conn, peek.service_id).await? {
            Ok(s) => s,
            Err(true) => return Err(Error::Unavailable(format!("service {} is being changed", peek.service_id))),
            Err(false) => return Ok(()),
        };
        let Some(attempt) = store::attempt(conn, attempt_id, true).await? else { return Ok(()) };
        if attempt.status != "sent" {
            return Ok(());
        }
        let now = self.state.clock.now();
        let reason = format!("no delivery report from the {} provider in time", attempt.channel);
        self.state.attempt_failed(conn, service, attempt, &reason, &timer.id.to_string(), now).await
    }
}

impl SchedulingTimers {
    /// Creates the room on the video server, inside this transaction: if the
    /// process dies after the server made it and before the commit, the timer
    /// fires again and the provider adopts the room with the same id.
    async fn room_open(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
        let room_id: i64 = timer.key.parse().map_err(|e| Error::Internal(format!("timer key: {e}")))?;
        let Some(room) = istore::room(conn, room_id, true).await? else { return Ok(()) };
        if room.status != "creating" {
            return Ok(());
        }
        let video = self.state.video()?;
        let spec = room.spec(&self.state.settings.video.tag);
        let created = video.create_room(&spec).await.map_err(|e| Error::Unavailable(format!("video server: {e}")))?;
        yuetan_platform::timers::wait_for_locks_after_side_effect(conn).await?;
        if self.state.settings.video.hang_after_room_create {
            tracing::warn!(room = room_id, "fault injection: hanging after the video server created the room");
            std::future::pending::<()>().await;
        }
        let now = self.state.clock.now();
        self.state.room_created(conn, room, created, now).await
    }

    /// Destroys the room (absent is fine) and references its recordings.
    async fn room_close(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
        let room_id: i64 = timer.key.parse().map_err(|e| Error::Internal(format!("timer key: {e}")))?;
        let Some(peek) = istore::room(conn, room_id, false).await? else { return Ok(()) };
        let Some(_case) = store::case(conn, peek.case_id, true).await? else { return Ok(()) };
        let Some(room) = istore::room(conn, room_id, true).await? else { return Ok(()) };
        if room.status != "closing" {
            return Ok(());
        }
        let video = self.state.video()?;
        let id = u64::try_from(room_id).unwrap_or(0);
        video.destroy_room(id).await.map_err(|e| Error::Unavailable(format!("video server: {e}")))?;
        let recordings = video
            .recordings(id)
            .await
            .map_err(|e| Error::Unavailable(format!("recordings: {e}")))?
            .into_iter()
            .map(|r| StoredRecording { path: r.path.display().to_string(), sha256: r.sha256, bytes: r.bytes })
            .collect();
        let now = self.state.clock.now();
        self.state.room_closed(conn, room, recordings, &timer.id.to_string(), now).await
    }

    async fn record_due(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
        let interview_id = key(timer)?;
        let now = self.state.clock.now();
        self.state.record_overdue(conn, interview_id, timer.id, now).await
    }
}

impl TimerHandler for SchedulingTimers {
    async fn fire(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), String> {
        let result = match timer.kind.as_str() {
            NOTICE_TIMER => self.notice_deadline(conn, timer).await,
            SEND_TIMER => self.send(conn, timer).await,
            ARRIVAL_TIMER => self.arrival(conn, timer).await,
            ROOM_OPEN_TIMER => self.room_open(conn, timer).await,
            ROOM_CLOSE_TIMER => self.room_close(conn, timer).await,
            RECORD_TIMER => self.record_due(conn, timer).await,
            other => return Err(format!("scheduling has no timer kind {other:?}")),
        };
        result.map_err(|e| e.to_string())
    }
}
