//! The archive's pure rules (R-DOC-3, R-DOC-4).
