use std::error::Error;
use std::sync::Arc;

/// The error a [`SinkError::Write`] keeps as its source: shared, so the
/// report can be cloned.
pub type WriteSource = Arc<dyn Error + Send + Sync + 'static>;

/// Why a finished trace was not recorded.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The sink's queue was full, so the trace was dropped rather than delay the call.
    #[error("sink queue full: trace `{key}` dropped")]
    QueueFull {
        /// The trace's key.
        key: String,
    },
    /// The sink no longer accepts traces.
    #[error("sink closed: trace `{key}` dropped")]
    Closed {
        /// The trace's key.
        key: String,
    },
    /// Writing the trace failed.
    #[error("could not write trace `{key}`: {message}")]
    Write {
        /// The trace's key.
        key: String,
        /// What failed, with the path where there is one.
        message: String,
        /// The underlying error (e.g. the I/O error), when there is one.
        #[source]
        source: Option<WriteSource>,
    },
    /// The sink panicked while accepting the trace.
    #[error("sink panicked accepting trace `{key}`: {message}")]
    Panicked {
        /// The trace's key.
        key: String,
        /// The panic message.
        message: String,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl SinkError {
    /// A [`SinkError::Write`] with no underlying error.
    pub fn write(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Write {
            key: key.into(),
            message: message.into(),
            source: None,
        }
    }

    /// A [`SinkError::Write`] caused by `source`, whose message is `source`'s.
    pub fn write_failed(
        key: impl Into<String>,
        source: impl Error + Send + Sync + 'static,
    ) -> Self {
        Self::Write {
            key: key.into(),
            message: source.to_string(),
            source: Some(Arc::new(source)),
        }
    }
}

/// Two errors are equal when they say the same: same variant, key and
/// message. A write's source is compared by its message, since error
/// types are not comparable.
impl PartialEq for SinkError {
    fn eq(&self, other: &Self) -> bool {
        use SinkError::*;
        match (self, other) {
            (QueueFull { key: a }, QueueFull { key: b }) | (Closed { key: a }, Closed { key: b }) => {
                a == b
            }
            (
                Write {
                    key: ka,
                    message: ma,
                    source: sa,
                },
                Write {
                    key: kb,
                    message: mb,
                    source: sb,
                },
            ) => {
                ka == kb
                    && ma == mb
                    && sa.as_ref().map(ToString::to_string) == sb.as_ref().map(ToString::to_string)
            }
            (
                Panicked {
                    key: ka,
                    message: ma,
                },
                Panicked {
                    key: kb,
                    message: mb,
                },
            ) => ka == kb && ma == mb,
            (Other(a), Other(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for SinkError {}
