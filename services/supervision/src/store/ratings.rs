//! SQL of ratings.
