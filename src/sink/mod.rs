//! Where finished traces go: the [`Sink`] trait, the in-memory
//! [`Collector`], and [`QueuedSink`], the one bounded-queue background
//! writer every durable sink is built on.
//!
//! ## Layering
//!
//! ```text
//!   replay ─► record ─► context ─► sink ─► span ─► model
//!   cassette ───────────────────► sink
//! ```
//!
//! `sink` sits just above the finished data ([`span`](crate::span)) and
//! below everything that produces or stores traces: the live-span
//! bookkeeping in [`context`](crate::context) hands a trace to its sinks
//! when its last span ends, the [`Recorder`](crate::Recorder) in
//! [`record`](crate::record) owns one sink, and the cassette
//! [`StoreSink`](crate::cassette::StoreSink) is a [`QueuedSink`] over a
//! [`Store`](crate::Store). Nothing here names `context`, `record`,
//! `cassette` or `replay`, so a new destination (OpenTelemetry, object
//! storage) is a [`TraceWriter`] of a few lines plugged into
//! [`QueuedSink`], with its queue, writer thread, flush accounting and loss
//! reports for free.
//!
//! ## The pieces
//!
//! | item | what it is |
//! |---|---|
//! | [`Sink`] | takes finished traces; must never block the model call |
//! | [`Collector`] | keeps traces in memory, for tests |
//! | [`Filtered`] | passes on only the traces a predicate keeps (sampling) |
//! | [`QueuedSink`] | a bounded queue and a writer thread around a [`TraceWriter`] |
//! | [`Tee`] | hands every trace to several sinks (a store and an export, say) |
//! | [`TraceWriter`] | the blocking write step of a durable sink |
//! | [`SinkError`] | why a trace was lost, with its source error |
//! | [`FlushReport`] | what a recorder's flush found: delivered, lost, why |

mod collector;
mod error;
mod filtered;
mod handle;
mod queued;
mod tee;

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::span::Trace;

pub use collector::Collector;
pub use error::{SinkError, WriteSource};
pub use filtered::Filtered;
pub use handle::FlushReport;
pub(crate) use handle::{SinkHandle, panic_message};
pub use queued::{DEFAULT_QUEUE_CAPACITY, DROP_WAIT, QueuedSink, SinkStats, TraceWriter};
pub use tee::Tee;

/// Where finished traces go.
///
/// A [`Recorder`](crate::Recorder) hands every trace it took part in to its
/// sink once every span of the trace has ended. `accept` runs on the model
/// call's own task, so it must not block: a sink that does I/O queues the
/// trace and writes it elsewhere (a [`QueuedSink`] does). Errors and
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
    /// destination (like [`Collector`]) returns the address of what they share.
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
