use std::sync::Arc;

use futures::future::BoxFuture;

use crate::span::Trace;

/// Why a finished trace was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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

/// Where finished traces go.
///
/// A [`Recorder`](crate::Recorder) hands every trace it took part in to its
/// sink once every span of the trace has ended. `accept` runs on the model
/// call's own task, so it must not block: a sink that does I/O queues the
/// trace and writes it elsewhere (the cassette store's sink does). Errors and
/// panics in a sink never reach the model call; they are counted and reported
/// by [`Recorder::flush`](crate::Recorder::flush).
pub trait Sink: Send + Sync + 'static {
    /// Takes one finished trace. Must return quickly and never block.
    fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError>;

    /// Waits until every accepted trace is stored, and returns what was lost
    /// since the last flush. The default has nothing to wait for.
    fn flush(&self) -> BoxFuture<'_, Vec<SinkError>> {
        Box::pin(futures::future::ready(Vec::new()))
    }

    /// Which destination this sink writes to. A trace whose calls went through
    /// several recorders is handed once to each distinct identity, so two
    /// recorders built on clones of one sink never store a trace twice.
    ///
    /// The default is this object's address. A sink whose clones share one
    /// destination (like [`Collector`](crate::Collector)) returns the address
    /// of what they share.
    fn identity(&self) -> *const () {
        (self as *const Self).cast()
    }
}

impl<S: Sink + ?Sized> Sink for Arc<S> {
    fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError> {
        (**self).accept(trace)
    }
    fn flush(&self) -> BoxFuture<'_, Vec<SinkError>> {
        (**self).flush()
    }
    fn identity(&self) -> *const () {
        (**self).identity()
    }
}
