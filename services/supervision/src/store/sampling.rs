//! SQL of sampling.
