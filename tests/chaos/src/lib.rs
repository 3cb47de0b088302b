//! The fault-injection run of issue 14 (`yuetan-chaos`) as a library, so the
//! whole-lifecycle benchmark can reuse its parts:
//!
//! - [`deployment`]: the split deployment as child processes (its own
//!   PostgreSQL and NATS on ephemeral ports), killed and restarted at will;
//! - [`lifecycle`]: the lifecycle driver (request ids, retries with the same
//!   id, acknowledged calls recorded, a per-RPC hook);
//! - [`check`]: waiting for quiet and the invariants.

pub mod bench;
pub mod check;
pub mod deployment;
pub mod lifecycle;
pub mod scrape;
