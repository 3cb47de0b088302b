//! Pure rules of the draw's periods and reports (R-SUP-1, R-SUP-4, R-SUP-7).
