//! Document numbers (文号, LAW.md §6, R-DOC-2): the platform's, shared with
//! scheduling.

pub use yuetan_platform::numbering::{next_sequence, DocumentNumber};
