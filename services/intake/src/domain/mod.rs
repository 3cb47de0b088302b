//! Pure domain types and rules of intake; no I/O.

pub mod access;
pub mod case;
pub mod doc_number;
pub mod party_id;
pub mod screening;
