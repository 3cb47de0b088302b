//! Intake's tests see the system harness (`yuetan-harness`) with intake
//! started: [`Harness`] is a [`System`] (it derefs to one: `h.config`,
//! `h.clock`, `h.bus`, `h.wait_for_event(…)`, …) plus intake's own value and
//! channel.

#![allow(dead_code, unused_imports)]

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tonic::transport::Channel;
use yuetan_intake::Intake;
use yuetan_proto::intake as pb;
use yuetan_proto::intake::intake_service_client::IntakeServiceClient;

pub use yuetan_harness::intake::{approval_form, clue, credit_code, enterprise, person, resident_id, verification};
pub use yuetan_harness::{req, Officer, Polls, Service, System, SECRET};

/// The system with intake running.
pub struct Harness {
    pub system: System,
    /// Intake's own value (its state; the tasks belong to the system).
    pub intake: Arc<Intake>,
    /// The channel to intake's gRPC port.
    pub channel: Channel,
}

impl Deref for Harness {
    type Target = System;

    fn deref(&self) -> &System {
        &self.system
    }
}

/// `h.restart(Service::Intake)` and the like; `h.intake` then still holds
/// the stopped instance's value.
impl DerefMut for Harness {
    fn deref_mut(&mut self) -> &mut System {
        &mut self.system
    }
}

pub async fn start() -> Harness {
    start_at(Utc::now()).await
}

pub async fn start_at(now: DateTime<Utc>) -> Harness {
    start_on(yuetan_testkit::stack().await, now).await
}

/// Intake on the given servers (the benchmark starts durable ones), with
/// the relay and the sweeper polling every 50 ms so tests see timers fire
/// quickly.
pub async fn start_on(stack: &yuetan_testkit::Stack, now: DateTime<Utc>) -> Harness {
    start_with(stack, now, Polls::Tests).await
}

pub async fn start_with(stack: &yuetan_testkit::Stack, now: DateTime<Utc>, polls: Polls) -> Harness {
    let system = System::builder().at(now).with(Service::Intake).polls(polls).start_on(stack).await;
    let intake = system.handle::<Intake>(Service::Intake);
    let channel = system.channel(Service::Intake);
    Harness { system, intake, channel }
}

impl Harness {
    pub fn client(&self) -> IntakeServiceClient<Channel> {
        self.system.intake()
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        self.system.pool_of(Service::Intake)
    }

    /// Registers an organ's document code (as the administrator does once).
    pub async fn organ(&self, code: &str, division: &str, document_code: &str) {
        self.system.put_organ(code, division, document_code).await;
    }

    /// The events published (`events_published`) and the rows of every
    /// table (intake's by their bare name: `parties`, `clues`, …), once the
    /// outbox is drained (see [`System::counts`]).
    pub async fn counts(&self) -> Vec<(String, i64)> {
        let counts = self.system.counts().await;
        counts.into_iter().map(|(table, n)| (table.strip_prefix("intake.").map(str::to_string).unwrap_or(table), n)).collect()
    }

    pub async fn stop(self) {
        self.system.stop().await;
    }
}

/// Registers a party and returns its id.
pub async fn register(h: &Harness, officer: &Officer, party: pb::PartyInput) -> String {
    h.system.register_party(officer, party).await
}
