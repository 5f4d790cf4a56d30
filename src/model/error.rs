use serde::{Deserialize, Serialize};

/// Why a model call failed.
///
/// Errors are data: they serialize into cassettes with the span that failed,
/// and a [`Player`](crate::Player) returns them again on replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ModelError {
    /// The provider answered with an HTTP error status.
    #[error("{provider} answered HTTP {status}: {message}")]
    Http {
        /// The provider.
        provider: String,
        /// The HTTP status.
        status: u16,
        /// The provider's own error message.
        message: String,
        /// The delay the provider asked for (`Retry-After`), in milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// The provider reported an error inside the stream (e.g. Anthropic's `overloaded_error`).
    #[error("{provider} reported {kind}: {message}")]
    Provider {
        /// The provider.
        provider: String,
        /// The provider's error type, e.g. `overloaded_error`.
        kind: String,
        /// The provider's message.
        message: String,
    },
    /// The connection failed or broke.
    #[error("transport error talking to {provider}: {message}")]
    Transport {
        /// The provider.
        provider: String,
        /// What went wrong.
        message: String,
    },
    /// The body ended before the protocol's end (no `[DONE]`, no `message_stop`, ...).
    #[error("{provider} stream ended early: {message}")]
    Truncated {
        /// The provider.
        provider: String,
        /// What was missing.
        message: String,
    },
    /// The provider sent something that could not be decoded.
    #[error("could not decode {provider} response: {message}")]
    Decode {
        /// The provider.
        provider: String,
        /// What could not be decoded.
        message: String,
    },
    /// Replay found no recorded call for this request.
    #[error("no recorded call in cassette key `{key}` matches this request\n{detail}")]
    CassetteMiss {
        /// The trace key searched.
        key: String,
        /// What differs from the closest recorded request, and what to do next.
        detail: String,
    },
    /// The call was configured wrongly (missing API key, bad base URL, ...).
    #[error("configuration error: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Anything else.
    #[error("{message}")]
    Other {
        /// What went wrong.
        message: String,
    },
}

impl ModelError {
    /// An [`Other`](ModelError::Other) error.
    pub fn other(message: impl Into<String>) -> Self {
        Self::Other {
            message: message.into(),
        }
    }

    /// Whether retrying the same call may succeed: HTTP 408, 409, 429 and 5xx,
    /// transport failures, truncated streams and provider overload errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http { status, .. } => matches!(status, 408 | 409 | 429) || *status >= 500,
            Self::Transport { .. } | Self::Truncated { .. } => true,
            Self::Provider { kind, .. } => {
                matches!(
                    kind.as_str(),
                    "overloaded_error" | "rate_limit_error" | "api_error" | "server_error"
                )
            }
            _ => false,
        }
    }

    /// The delay the provider asked for before a retry, if any.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Http {
                retry_after_ms: Some(ms),
                ..
            } => Some(std::time::Duration::from_millis(*ms)),
            _ => None,
        }
    }
}
