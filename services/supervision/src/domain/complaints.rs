//! Pure rules of complaints (R-SUP-6).
