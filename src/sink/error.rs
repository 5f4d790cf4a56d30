use std::error::Error;
use std::sync::Arc;

/// The error a [`SinkError::Write`] keeps as its source, shared so the
/// report can be cloned. It derefs to the error itself, which is what
/// [`Error::source`] returns (so `downcast_ref` on it finds e.g. a
/// [`CassetteError`](crate::cassette::CassetteError)).
#[derive(Clone)]
pub struct WriteSource(Arc<dyn Error + Send + Sync + 'static>);

impl WriteSource {
    /// Keeps `error` as a write's source.
    pub fn new(error: impl Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }
}

impl std::ops::Deref for WriteSource {
    type Target = dyn Error + Send + Sync + 'static;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::fmt::Debug for WriteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

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
    /// A live call in the trace ran while tokio's clock was paused, so the
    /// times it would record are invented (a paused clock stands still, or
    /// jumps to its next timer when the runtime is idle). The trace is not
    /// recorded; the call itself went through.
    #[error(
        "trace `{key}` not recorded: a live model call in it ran while tokio's clock was \
         paused (tokio's clock moved {tokio_us} µs while {real_us} µs really passed), so its \
         times would be invented. Make live calls on the real clock: drop `start_paused = true` \
         / `tokio::time::pause()` from the test that records, or use `#[tracedeck::test]`, which \
         runs calls that go live on the real clock and replays on a paused one"
    )]
    PausedClock {
        /// The trace's key.
        key: String,
        /// How far tokio's clock moved across the call, in microseconds.
        tokio_us: u64,
        /// How much real time passed across the call, in microseconds.
        real_us: u64,
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
            source: Some(WriteSource::new(source)),
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
            (QueueFull { key: a }, QueueFull { key: b })
            | (Closed { key: a }, Closed { key: b }) => a == b,
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
                    && sa.as_ref().map(|e| e.to_string()) == sb.as_ref().map(|e| e.to_string())
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
            (
                PausedClock {
                    key: ka,
                    tokio_us: ta,
                    real_us: ra,
                },
                PausedClock {
                    key: kb,
                    tokio_us: tb,
                    real_us: rb,
                },
            ) => ka == kb && ta == tb && ra == rb,
            (Other(a), Other(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for SinkError {}
