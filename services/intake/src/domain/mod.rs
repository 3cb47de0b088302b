//! Pure domain types and rules of intake; no I/O.

pub mod party_id;
