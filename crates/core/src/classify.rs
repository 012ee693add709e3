//! Error types of original-behaviour §3.3, used as the `error_type` of error records and
//! metrics, classified in one place.

use std::fmt;

/// The kind of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// The work was cancelled.
    ContextCanceled,
    /// A deadline passed.
    Timeout,
    /// A database constraint (PostgreSQL SQLSTATE class 23).
    ConstraintViolation,
    /// The server could not be reached.
    ConnectionError,
    /// Credentials were refused.
    AuthError,
    /// The server asked to retry later.
    Transient,
    /// The data cannot be decoded or does not fit.
    InvalidData,
    /// Anything else.
    Unknown,
}

impl ErrorType {
    /// The label value used by the original (`timeout`, `invalid_data`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::ContextCanceled => "context_canceled",
            ErrorType::Timeout => "timeout",
            ErrorType::ConstraintViolation => "constraint_violation",
            ErrorType::ConnectionError => "connection_error",
            ErrorType::AuthError => "auth_error",
            ErrorType::Transient => "transient",
            ErrorType::InvalidData => "invalid_data",
            ErrorType::Unknown => "unknown",
        }
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorType::Timeout | ErrorType::ConnectionError | ErrorType::Transient
        )
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why something failed: its kind, decided where the error is known (the connector knows a
/// refused login from a lost connection), the text for people, and the error underneath.
#[derive(Debug, Clone)]
pub struct ErrorReason {
    /// The kind, for `error_type` labels and event reasons.
    pub kind: ErrorType,
    /// What happened, for people.
    pub text: String,
    /// The error underneath, when there is one.
    pub source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl ErrorReason {
    /// A reason of `kind`.
    pub fn new(kind: ErrorType, text: impl Into<String>) -> Self {
        ErrorReason {
            kind,
            text: text.into(),
            source: None,
        }
    }

    /// The same reason, with the error underneath it.
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }
}

impl fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for ErrorReason {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// Classifies an error from its text (the fallback for text from foreign systems; a connector
/// that knows the kind says it in an [`ErrorReason`]) and, when known, its PostgreSQL SQLSTATE. First match
/// wins, in the original's order.
pub fn classify(message: &str, sqlstate: Option<&str>) -> ErrorType {
    let text = message.to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|needle| text.contains(needle));
    if has(&["context canceled", "operation was canceled", "cancelled"]) {
        ErrorType::ContextCanceled
    } else if has(&["timeout", "timed out", "deadline exceeded"]) {
        ErrorType::Timeout
    } else if sqlstate.is_some_and(|code| code.starts_with("23")) {
        ErrorType::ConstraintViolation
    } else if has(&[
        "connection refused",
        "not connected",
        "failed to connect",
        "connection failure",
        "connection reset",
        "broken pipe",
    ]) {
        ErrorType::ConnectionError
    } else if has(&["authentication", "invalid password", "unauthorized", "sasl"]) {
        ErrorType::AuthError
    } else if has(&[
        "too_many_requests_failed",
        "transient",
        "retry your query",
        "worker node",
        "under too much load",
        "too many errors",
        "the node may have crashed",
    ]) {
        ErrorType::Transient
    } else if has(&[
        "json",
        "parse",
        "schema",
        "validation",
        "invalid",
        "syntax error",
    ]) {
        ErrorType::InvalidData
    } else {
        ErrorType::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_in_the_original_order() {
        assert_eq!(
            classify("context canceled", None),
            ErrorType::ContextCanceled
        );
        assert_eq!(
            classify("i/o timeout while parsing json", None),
            ErrorType::Timeout
        );
        assert_eq!(
            classify("duplicate key", Some("23505")),
            ErrorType::ConstraintViolation
        );
        assert_eq!(
            classify("dial tcp: connection refused", None),
            ErrorType::ConnectionError
        );
        assert_eq!(
            classify("SASL handshake failed", None),
            ErrorType::AuthError
        );
        assert_eq!(
            classify("Query failed: retry your query", None),
            ErrorType::Transient
        );
        assert_eq!(
            classify("invalid character 'x' looking for JSON", None),
            ErrorType::InvalidData
        );
        assert_eq!(classify("something odd", None), ErrorType::Unknown);
    }
}
