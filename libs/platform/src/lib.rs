//! The runtime every Yuetan service stands on.
//!
//! A service builds its `AppState` from these parts (ARCHITECTURE §3):
//! [`config`] → [`telemetry`] → [`db`] (pool + migrations) → [`bus`]
//! (JetStream) → [`outbox`] relay, [`consumer`] runner, [`timers`] sweeper →
//! [`server`] (gRPC with health and reflection, [`auth`] interceptor).
//! Every state change also goes to the hash-chained [`audit`] log;
//! personal identifiers are sealed and hashed by [`pii`].

pub mod anchors;
pub mod audit;
pub mod batch;
pub mod auth;
pub mod bus;
pub mod client;
pub mod clock;
pub mod config;
pub mod consumer;
pub mod db;
pub mod deadletter;
pub mod delivery;
pub mod error;
pub mod fields;
pub mod gate;
pub mod housekeeping;
pub mod links;
pub mod metrics;
pub mod numbering;
pub mod objects;
pub mod ordering;
pub mod outbox;
pub mod pii;
pub mod relief;
pub mod requests;
pub mod seals;
pub mod secret;
pub mod server;
pub mod telemetry;
pub mod timers;
pub mod trace_context;

pub use auth::Actor;
pub use clock::{Clock, SystemClock, TestClock};
pub use config::Config;
pub use error::Error;
