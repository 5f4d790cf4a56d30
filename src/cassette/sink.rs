use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::format::check_trace;
use super::key::validate_key;
use super::store::Store;
use crate::sink::{QueuedSink, Sink, SinkError, SinkStats, TraceWriter};
use crate::span::Trace;

/// A [`StoreSink`]'s counters since it was made.
pub type StoreSinkStats = SinkStats;

/// A [`Sink`] that writes finished traces into a [`Store`] from a
/// background writer, so a model call never waits on the disk: a
/// [`QueuedSink`] whose write step is [`Store::write`] (redaction,
/// canonical JSON, atomic rename).
///
/// [`accept`](Sink::accept) checks the trace (well-formed, valid key) and
/// queues it without blocking; a malformed trace or an invalid key is
/// refused at once with a [`SinkError::Write`], a full queue with
/// [`SinkError::QueueFull`]. A write that fails is returned by the next
/// [`flush`](StoreSink::flush) as a [`SinkError::Write`] whose message
/// names the path and whose source is the [`CassetteError`](super::CassetteError).
/// See [`QueuedSink`] for the queue, the writer thread and what a clean
/// flush promises.
///
/// Clones share one queue and one writer; each [`Store::sink`] call starts
/// a writer of its own, so make one sink and clone it. Flush before the
/// process exits to learn what was lost; a program that forgets still gets
/// its traces written: dropping the last clone waits (up to
/// [`DROP_WAIT`](crate::sink::DROP_WAIT)) for the writer, and prints one
/// line on stderr for any it could not write.
///
/// Measured on a shared 2-core machine, debug build: `accept` of a
/// two-call trace takes about 1.5 µs at the median and 3 µs at the 99th
/// percentile; the writer stores about 200 such traces a second with
/// [`Store::with_sync`] on (the default: each file is flushed to disk) and
/// 1,000 or more with it off.
#[derive(Clone)]
pub struct StoreSink {
    queued: QueuedSink<StoreWriter>,
}

/// The write step of a [`StoreSink`]: one trace into one store.
struct StoreWriter {
    store: Store,
}

impl TraceWriter for StoreWriter {
    fn write(&self, trace: &Trace) -> Result<(), SinkError> {
        self.store
            .write_quietly(trace)
            // A cassette this run recorded is in use (see `UsageLedger`).
            .map(|path| self.store.usage().note_written(trace.key(), &path))
            .map_err(|e| SinkError::write_failed(trace.key(), e))
    }

    fn check(&self, trace: &Trace) -> Result<(), SinkError> {
        let key = || {
            trace
                .spans
                .first()
                .map(|r| r.key.clone())
                .unwrap_or_default()
        };
        if let Err(message) = check_trace(trace) {
            return Err(SinkError::write(
                key(),
                format!("not written to {}: {message}", self.store.dir().display()),
            ));
        }
        // An invalid key keeps its `CassetteError` as the loss's source.
        validate_key(trace.key()).map_err(|e| SinkError::write_failed(key(), e))
    }

    fn destination(&self) -> String {
        self.store.dir().display().to_string()
    }
}

impl StoreSink {
    /// A sink writing into `store` through a queue of `capacity` traces
    /// (at least 1). Starts the writer thread.
    pub fn new(store: Store, capacity: usize) -> Self {
        Self {
            queued: QueuedSink::new(StoreWriter { store }, capacity, "tracedeck-store-writer"),
        }
    }

    /// The store written to.
    pub fn store(&self) -> &Store {
        &self.queued.writer().store
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.queued.capacity()
    }

    /// The sink's counters since it was made.
    pub fn stats(&self) -> StoreSinkStats {
        self.queued.stats()
    }

    /// Waits until every trace accepted so far is written or has failed,
    /// and returns the failures since the last flush: one
    /// [`SinkError::Write`] per lost trace, naming its path.
    ///
    /// The same as [`Sink::flush`]; a [`Recorder`](crate::Recorder)'s own
    /// [`flush`](crate::Recorder::flush) calls it and folds the result into
    /// its [`FlushReport`](crate::sink::FlushReport).
    pub async fn flush(&self) -> Vec<SinkError> {
        self.queued.flush().await
    }

    /// [`flush`](StoreSink::flush) for synchronous code: blocks the calling
    /// thread until it is done. Do not call it from async code (use
    /// `flush().await`).
    pub fn flush_blocking(&self) -> Vec<SinkError> {
        self.queued.flush_blocking()
    }
}

impl Sink for StoreSink {
    fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError> {
        self.queued.accept(trace)
    }

    fn flush(&self) -> BoxFuture<'_, Vec<SinkError>> {
        Sink::flush(&self.queued)
    }

    /// Clones share one queue and writer: recorders built on clones of one
    /// sink hand a trace they share to it once.
    fn identity(&self) -> *const () {
        self.queued.identity()
    }
}

impl fmt::Debug for StoreSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSink")
            .field("dir", &self.store().dir())
            .field("capacity", &self.capacity())
            .field("stats", &self.stats())
            .finish()
    }
}
