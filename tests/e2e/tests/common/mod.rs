//! The whole system for the e2e tests: the harness (`yuetan-harness`) with
//! intake and review started and organs A and B registered. `s.h` is the
//! harness's [`Harness`] (a `yuetan_harness::System`); `s` derefs to it.

#![allow(dead_code, unused_imports)]

use std::ops::{Deref, DerefMut};

use chrono::{DateTime, Utc};
use tonic::transport::Channel;
use yuetan_proto::events::Event;
use yuetan_review::Review;

pub use yuetan_harness::review::{all_passed, approve, decide};
pub use yuetan_harness::{
    deputy, leader, proposer, req, reviewer, reviewer_of_county_b, Officer, Service, CHENGGUAN, ORGAN_A, QILIHE,
};

pub type Harness = yuetan_harness::System;

pub struct System {
    pub h: Harness,
}

impl Deref for System {
    type Target = Harness;

    fn deref(&self) -> &Harness {
        &self.h
    }
}

impl DerefMut for System {
    fn deref_mut(&mut self) -> &mut Harness {
        &mut self.h
    }
}

pub async fn start_at(now: DateTime<Utc>) -> System {
    let h = Harness::builder().at(now).with(Service::Intake).with(Service::Review).start().await;
    h.put_organs().await;
    System { h }
}

pub async fn start() -> System {
    start_at(Utc::now()).await
}

impl System {
    pub async fn stop(self) {
        self.h.stop().await;
    }
}

/// A second review on the harness's database, stream and clock.
pub async fn review_replica(h: &Harness) -> (Review, Channel) {
    let replica = h.replica(Service::Review).await;
    let state = replica.handle::<Review>().state.clone();
    (Review { state, tasks: replica.tasks }, replica.channel)
}

/// Every event now in the stream, in stream order, with its subject.
pub async fn stream_events(h: &Harness) -> Vec<(String, Event)> {
    h.events().await
}

/// The types of a case's events in stream order, waiting until `until`
/// (the last one) has arrived.
pub async fn case_event_types(h: &Harness, case_id: &str, until: &str) -> Vec<String> {
    h.case_event_types(case_id, until).await
}
