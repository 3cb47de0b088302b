//! SQL of complaints.
