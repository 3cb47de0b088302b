//! The platform error and its one, exhaustive mapping to `tonic::Status`.
//!
//! Services define their own `thiserror` enums and convert into this one (or
//! map to `Status` the same way); nothing maps errors by parsing strings.

use tonic::{Code, Status};

/// What can go wrong, in the words a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; `field` names the offending field.
    #[error("invalid argument `{field}`: {reason}")]
    InvalidArgument { field: String, reason: String },
    /// No valid credentials were presented.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this (role or jurisdiction).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The thing does not exist (or is outside the caller's view).
    #[error("not found: {0}")]
    NotFound(String),
    /// The thing already exists (a unique key was violated).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The request is valid but the current state forbids it.
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// A dependency (database, bus) is unreachable; the caller may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; details are logged, not returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument { field: field.into(), reason: reason.into() }
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidArgument { .. } => Status::new(Code::InvalidArgument, err.to_string()),
            Error::Unauthenticated(_) => Status::new(Code::Unauthenticated, err.to_string()),
            Error::PermissionDenied(_) => Status::new(Code::PermissionDenied, err.to_string()),
            Error::NotFound(_) => Status::new(Code::NotFound, err.to_string()),
            Error::AlreadyExists(_) => Status::new(Code::AlreadyExists, err.to_string()),
            Error::FailedPrecondition(_) => Status::new(Code::FailedPrecondition, err.to_string()),
            Error::Unavailable(_) => Status::new(Code::Unavailable, err.to_string()),
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Status::new(Code::Internal, "internal error")
            }
        }
    }
}

impl From<sqlx::Error> for Error {
    /// PostgreSQL error codes become domain errors: 23505 unique violation →
    /// `AlreadyExists`, 23503/23514 → `FailedPrecondition`; pool and I/O
    /// failures → `Unavailable`.
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => Error::NotFound("row".into()),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                Some("23505") => Error::AlreadyExists(db.message().to_string()),
                Some("23503") | Some("23514") => Error::FailedPrecondition(db.message().to_string()),
                Some("40001") | Some("40P01") => Error::Unavailable(db.message().to_string()),
                // Class 57 (operator intervention: 57P01 admin_shutdown, a
                // server restarting) and class 08 (connection exception):
                // the call may be retried (found by the chaos run).
                Some(code) if code.starts_with("57P") || code.starts_with("08") => Error::Unavailable(db.message().to_string()),
                _ => Error::Internal(err.to_string()),
            },
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Error::Unavailable(err.to_string())
            }
            _ => Error::Internal(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_status_names_the_field() {
        let status: Status = Error::invalid("party.credit_code", "check character mismatch").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("party.credit_code"), "{}", status.message());
    }

    #[test]
    fn internal_errors_do_not_leak_details_to_clients() {
        let status: Status = Error::Internal("password=hunter2 at db".into()).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
    }

    #[test]
    fn every_variant_maps_to_its_own_code() {
        let cases = [
            (Error::Unauthenticated("x".into()), Code::Unauthenticated),
            (Error::PermissionDenied("x".into()), Code::PermissionDenied),
            (Error::NotFound("x".into()), Code::NotFound),
            (Error::AlreadyExists("x".into()), Code::AlreadyExists),
            (Error::FailedPrecondition("x".into()), Code::FailedPrecondition),
            (Error::Unavailable("x".into()), Code::Unavailable),
        ];
        for (err, code) in cases {
            assert_eq!(Status::from(err).code(), code);
        }
    }
}
