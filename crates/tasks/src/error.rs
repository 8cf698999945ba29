//! What a task operation can fail with, and its one mapping to HTTP.

use spin_support::db::DbError;
use spin_support::http::ApiError;
use todo_domain::error::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// Input the domain refused (or an `Idempotency-Key` reused with another body).
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    /// No such task for this caller (absent, or another user's: the same answer).
    #[error("Task not found")]
    NotFound,
    /// `If-Match` named another version than the current one.
    #[error("Task was modified: If-Match does not match its current version {current_version}")]
    VersionMismatch { current_version: i64 },
    /// Changed concurrently more often than the operation retries.
    #[error("Task is being changed concurrently; retry")]
    Conflict,
    /// The database failed: unavailable (retry later) or a bug.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl TaskError {
    /// The words a client is shown, the same through every front door: the REST API's
    /// `detail` (for validation errors, one line per field).
    pub fn detail(&self) -> String {
        match self {
            TaskError::Invalid(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.loc.join("."), e.msg))
                .collect::<Vec<_>>()
                .join("; "),
            TaskError::Db(DbError::Unavailable(_)) => "Service temporarily unavailable".into(),
            TaskError::Db(_) => "Internal server error".into(),
            other => other.to_string(),
        }
    }
}

impl From<TaskError> for ApiError {
    fn from(error: TaskError) -> Self {
        match error {
            TaskError::Invalid(errors) => ApiError::Validation(errors),
            TaskError::NotFound => ApiError::NotFound(error.to_string()),
            TaskError::VersionMismatch { .. } => ApiError::PreconditionFailed(error.to_string()),
            TaskError::Conflict => ApiError::Conflict(error.to_string()),
            TaskError::Db(db) => db.into(),
        }
    }
}
