//! Relief's pure rules (R-RELIEF-2).
