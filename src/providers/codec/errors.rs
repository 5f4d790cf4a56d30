//! How a recorded [`ModelError`] goes back on the wire: as an error event in
//! a stream, or as an HTTP error response.

use crate::model::ModelError;

/// What a stream does with the error it ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamError {
    /// The protocol's error event, with the error's type and message.
    Event {
        /// The error's type (`overloaded_error`, `server_error`, ...).
        kind: String,
        /// The message.
        message: String,
    },
    /// An event whose data is not JSON: the client fails to decode it.
    Undecodable,
    /// The body ends without the protocol's end marker.
    Truncate,
    /// The connection breaks.
    Break,
}

impl StreamError {
    /// How `error` is served inside a stream: a
    /// [`Provider`](ModelError::Provider) error as the protocol's error event
    /// (its kind and message as they are); [`Truncated`](ModelError::Truncated)
    /// as a body without its end marker; [`Transport`](ModelError::Transport)
    /// as a broken connection; [`Decode`](ModelError::Decode) as an event
    /// that is not JSON; any other error (which no provider sends inside a
    /// stream) as an error event naming it.
    pub(crate) fn of(error: &ModelError) -> Self {
        match error {
            ModelError::Provider { kind, message, .. } => Self::Event {
                kind: kind.clone(),
                message: message.clone(),
            },
            ModelError::Truncated { .. } => Self::Truncate,
            ModelError::Transport { .. } => Self::Break,
            ModelError::Decode { .. } => Self::Undecodable,
            ModelError::Http {
                status, message, ..
            } => Self::Event {
                kind: error_type(*status).to_owned(),
                message: message.clone(),
            },
            ModelError::CassetteMiss { .. } => Self::Event {
                kind: "cassette_miss".to_owned(),
                message: error.to_string(),
            },
            ModelError::Config { message } => Self::Event {
                kind: "config_error".to_owned(),
                message: message.clone(),
            },
            ModelError::Other { message } => Self::Event {
                kind: "error".to_owned(),
                message: message.clone(),
            },
        }
    }
}

/// An error as one HTTP response: status, the error's type and message, and
/// the delay asked for before a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpError {
    /// The status to answer with.
    pub(crate) status: u16,
    /// The error's type.
    pub(crate) kind: String,
    /// The message.
    pub(crate) message: String,
    /// `Retry-After`, in milliseconds.
    pub(crate) retry_after_ms: Option<u64>,
}

impl HttpError {
    /// How `error` is served as a whole response:
    /// [`Http`](ModelError::Http) with its status (outside 400–599 it
    /// becomes 500), message and retry delay; a
    /// [`Provider`](ModelError::Provider) error as the error body a provider
    /// sends with status 200 (the only way a non-streamed call ends in one);
    /// anything else as status 502 (transport, truncation, decoding), 404 (a
    /// cassette miss), 400 (configuration) or 500, its message the error's
    /// whole text.
    pub(crate) fn of(error: &ModelError) -> Self {
        let (status, kind, message, retry_after_ms) = match error {
            ModelError::Http {
                status,
                message,
                retry_after_ms,
                ..
            } => {
                let status = if (400..=599).contains(status) {
                    *status
                } else {
                    500
                };
                (
                    status,
                    error_type(status).to_owned(),
                    message.clone(),
                    *retry_after_ms,
                )
            }
            ModelError::Provider { kind, message, .. } => {
                (200, kind.clone(), message.clone(), None)
            }
            ModelError::Transport { .. }
            | ModelError::Truncated { .. }
            | ModelError::Decode { .. } => {
                (502, error_type(502).to_owned(), error.to_string(), None)
            }
            ModelError::CassetteMiss { .. } => {
                (404, error_type(404).to_owned(), error.to_string(), None)
            }
            ModelError::Config { .. } => (400, error_type(400).to_owned(), error.to_string(), None),
            ModelError::Other { .. } => (500, error_type(500).to_owned(), error.to_string(), None),
        };
        Self {
            status,
            kind,
            message,
            retry_after_ms,
        }
    }

    /// The `retry-after-ms` (exact, read first by tracedeck and OpenAI's
    /// SDKs) and `retry-after` (whole seconds, rounded up) headers.
    pub(crate) fn headers(&self) -> Vec<(&'static str, String)> {
        match self.retry_after_ms {
            Some(ms) => vec![
                ("retry-after-ms", ms.to_string()),
                ("retry-after", ms.div_ceil(1000).to_string()),
            ],
            None => Vec::new(),
        }
    }
}

/// The error type providers name an HTTP status with (Anthropic's names,
/// which OpenAI shares for 4xx).
pub(crate) fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_errors_keep_a_valid_status_and_their_retry_delay() {
        let error = |status| ModelError::Http {
            provider: "p".into(),
            status,
            message: "m".into(),
            retry_after_ms: Some(1001),
        };
        let http = HttpError::of(&error(429));
        assert_eq!((http.status, http.kind.as_str()), (429, "rate_limit_error"));
        assert_eq!(
            http.headers(),
            [
                ("retry-after-ms", "1001".to_owned()),
                ("retry-after", "2".to_owned())
            ]
        );
        assert_eq!(HttpError::of(&error(0)).status, 500);
        assert_eq!(HttpError::of(&error(200)).status, 500);
        let max = ModelError::Http {
            provider: "p".into(),
            status: u16::MAX,
            message: String::new(),
            retry_after_ms: Some(u64::MAX),
        };
        let http = HttpError::of(&max);
        assert_eq!(http.status, 500);
        assert_eq!(http.headers()[1].1, (u64::MAX / 1000 + 1).to_string());
    }

    #[test]
    fn only_provider_errors_become_error_events_as_they_are() {
        let provider = ModelError::Provider {
            provider: "p".into(),
            kind: "overloaded_error".into(),
            message: "m".into(),
        };
        assert_eq!(
            StreamError::of(&provider),
            StreamError::Event {
                kind: "overloaded_error".into(),
                message: "m".into()
            }
        );
        let truncated = ModelError::Truncated {
            provider: "p".into(),
            message: "m".into(),
        };
        assert_eq!(StreamError::of(&truncated), StreamError::Truncate);
        let transport = ModelError::Transport {
            provider: "p".into(),
            message: "m".into(),
        };
        assert_eq!(StreamError::of(&transport), StreamError::Break);
        assert!(matches!(
            StreamError::of(&ModelError::other("x")),
            StreamError::Event { kind, .. } if kind == "error"
        ));
    }
}
