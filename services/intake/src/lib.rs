//! The intake service (`yuetan.intake.v1.IntakeService`, issue 3): parties,
//! clues, screening, the province-wide repeat check and case numbers.
//!
//! Built so far: the domain identifiers of parties ([`domain::party_id`]),
//! validated once at the edge into types that cannot be invalid
//! (ARCHITECTURE §3). The gRPC API, store and events come next.

pub mod domain;
