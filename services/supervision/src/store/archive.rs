//! Archive rows (R-DOC-3, R-DOC-4): SQL only.
