//! The intake service (`yuetan.intake.v1.IntakeService`, issue 3): parties,
//! clues, screening, the province-wide repeat check and case numbers.
//!
//! Built so far: the domain identifiers of parties ([`domain::party_id`]),
//! validated once at the edge into types that cannot be invalid
//! (ARCHITECTURE §3); document numbers ([`domain::doc_number`]) and their
//! gap-free sequence ([`store::next_document_sequence`]). The gRPC API,
//! clues, screening and events come next.

pub mod domain;
pub mod store;
