//! The officers’ console (issue 15).
