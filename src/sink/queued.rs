use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::watch;

use super::{Sink, SinkError, panic_message};
use crate::span::Trace;

/// How many finished traces a [`QueuedSink`] holds for its writer by default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// How long dropping a sink's last handle waits for its writer to write
/// what is still queued.
pub const DROP_WAIT: Duration = Duration::from_secs(10);

/// The most write errors a sink keeps in full between flushes; past it only
/// a count is kept (each lost trace is still reported, more briefly).
const MAX_KEPT_FAILURES: usize = 1000;

/// The blocking step of a durable sink: writes one trace somewhere (a
/// folder, a bucket, a collector over the network). A [`QueuedSink`] calls
/// it on its writer thread, one trace at a time, in the order accepted.
///
/// Methods take `&self` because the writer is shared between the sink's
/// clones (for [`check`](TraceWriter::check) and
/// [`destination`](TraceWriter::destination)) and its writer thread; a
/// writer with state to mutate keeps it behind a lock.
pub trait TraceWriter: Send + Sync + 'static {
    /// Writes `trace`. May block; runs on the writer thread. A panic here is
    /// caught and reported as [`SinkError::Panicked`].
    ///
    /// # Errors
    /// Why the trace could not be written, kept with its source error
    /// ([`SinkError::write_failed`]); reported by the next flush.
    fn write(&self, trace: &Trace) -> Result<(), SinkError>;

    /// Whether the writer needs the instant each trace was accepted (see
    /// [`write_accepted`](Self::write_accepted)). When `false` (the
    /// default), `accept` reads no clock.
    const NEEDS_ACCEPT_TIME: bool = false;

    /// Writes `trace`, which [`QueuedSink`]'s `accept` took at `accepted`
    /// (`Some` exactly when [`NEEDS_ACCEPT_TIME`](Self::NEEDS_ACCEPT_TIME)
    /// is `true`): for a writer that dates what it writes by its delivery,
    /// not by when its thread got to it. The default calls
    /// [`write`](Self::write).
    ///
    /// # Errors
    /// As [`write`](Self::write).
    fn write_accepted(&self, trace: &Trace, accepted: Option<Instant>) -> Result<(), SinkError> {
        let _ = accepted;
        self.write(trace)
    }

    /// Checks `trace` before it is queued, on the caller's thread: must be
    /// quick. A trace that could never be written is refused here, at once,
    /// instead of failing later. The default accepts every trace.
    ///
    /// # Errors
    /// Why the trace is refused.
    fn check(&self, trace: &Trace) -> Result<(), SinkError> {
        let _ = trace;
        Ok(())
    }

    /// Where traces go, for messages (e.g. a folder's path).
    fn destination(&self) -> String;
}

/// A [`Sink`] that writes finished traces through a [`TraceWriter`] from a
/// background thread, so a model call never waits on I/O.
///
/// [`accept`](Sink::accept) only runs the writer's
/// [`check`](TraceWriter::check) and puts the trace in a bounded queue
/// with a non-blocking `try_send` (under a short lock that keeps the count
/// of queued traces in step with the queue, never held across I/O or an
/// await): it never waits for space or I/O. A full queue refuses the trace
/// with [`SinkError::QueueFull`], a refused check with its error; a
/// [`Recorder`](crate::Recorder) counts both as lost at once. A writer
/// thread takes traces off the queue and writes each. A write that fails
/// is kept, and returned by the next [`flush`](Sink::flush); `flush` first
/// waits until every trace accepted before it was called has been written
/// or has failed. So nothing accepted is lost without a report, and a
/// clean flush means every accepted trace was written.
///
/// The writer is a plain OS thread, not a tokio task, on purpose: it works
/// with no tokio runtime at all (a synchronous test, `accept` from a
/// non-tokio thread), it outlives any one runtime (a sink shared between
/// `#[tokio::test]`s or proptest cases that each build their own runtime),
/// and blocking I/O never occupies a runtime worker. It stops once every
/// clone of the sink is dropped and its queue is written.
///
/// Clones share one queue and one writer; each [`QueuedSink::new`] starts a
/// writer thread of its own, so make one sink and clone it. Failed writes go
/// to whichever clone (or [`Recorder`](crate::Recorder)) flushes next.
///
/// Call [`flush`](QueuedSink::flush) before the process exits, to learn
/// what was lost. A program that forgets loses nothing it can save:
/// dropping the last clone (with it the last recorder using it) waits, up
/// to [`DROP_WAIT`], for the writer to write every trace still queued, and
/// when some could not be written (failed writes nobody flushed, or a
/// writer still busy after the wait) prints one line on stderr saying how
/// many traces were lost and why. A sink that is never dropped (leaked, or
/// in a `static`) cannot do this: flush it.
pub struct QueuedSink<W: TraceWriter> {
    shared: Arc<Shared<W>>,
}

impl<W: TraceWriter> Clone for QueuedSink<W> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct Shared<W> {
    writer: Arc<W>,
    capacity: usize,
    queue: Option<SyncSender<Queued>>,
    /// How many accepted traces the writer has finished (written or failed).
    done: watch::Receiver<u64>,
    /// How many traces were put in the queue. Counted under this lock
    /// together with the `try_send`, so the count always equals the queue's
    /// position: a flush that waits for `done >= accepted` waits for exactly
    /// the traces queued before it, even with accepts racing on other threads.
    /// Held only for the non-blocking send, never across an await.
    accepted: Mutex<u64>,
    queue_full: AtomicU64,
    refused: AtomicU64,
    /// Accepted traces the writer never finished because it stopped.
    abandoned_reported: AtomicU64,
    outcome: Arc<Outcome>,
    /// Disconnected once the writer thread has returned.
    /// (Behind a lock only to make `Shared` `Sync`; used once, in `drop`.)
    writer_gone: Mutex<Option<Receiver<()>>>,
    /// How long dropping the last handle waits for the writer.
    drop_wait: Duration,
}

/// What the writer thread reports back.
#[derive(Default)]
struct Outcome {
    written: AtomicU64,
    failed: AtomicU64,
    failures: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    kept: Vec<SinkError>,
    not_kept: u64,
}

/// A [`QueuedSink`]'s counters since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Traces put in the queue.
    pub accepted: u64,
    /// Accepted traces written.
    pub written: u64,
    /// Accepted traces whose write failed.
    pub failed: u64,
    /// Traces refused because the queue was full.
    pub queue_full: u64,
    /// Traces refused by the writer's check, or because the writer had stopped.
    pub refused: u64,
    /// Accepted traces not yet written or failed.
    pub pending: u64,
}

impl<W: TraceWriter> QueuedSink<W> {
    /// A sink writing through `writer` from a queue of `capacity` traces
    /// (at least 1). Starts the writer thread, named `thread_name`.
    pub fn new(writer: W, capacity: usize, thread_name: &str) -> Self {
        let capacity = capacity.max(1);
        let writer = Arc::new(writer);
        let (done_tx, done_rx) = watch::channel(0u64);
        let outcome = Arc::new(Outcome::default());
        let (tx, rx) = mpsc::sync_channel(capacity);
        let (gone_tx, gone_rx) = mpsc::channel::<()>();
        let thread = {
            let writer = Arc::clone(&writer);
            let outcome = Arc::clone(&outcome);
            std::thread::Builder::new()
                .name(thread_name.into())
                .spawn(move || {
                    // Dropped when the thread returns, even by a panic.
                    let _gone: Sender<()> = gone_tx;
                    write_until_closed(&rx, &*writer, &outcome, &done_tx);
                })
        };
        // If no thread can be started, the sink refuses every trace (as closed)
        // rather than accept what nothing would write.
        let (queue, writer_gone) = match thread {
            Ok(_) => (Some(tx), Some(gone_rx)),
            Err(_) => (None, None),
        };
        QueuedSink {
            shared: Arc::new(Shared {
                writer,
                capacity,
                queue,
                done: done_rx,
                accepted: Mutex::new(0),
                queue_full: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                abandoned_reported: AtomicU64::new(0),
                outcome,
                writer_gone: Mutex::new(writer_gone),
                drop_wait: DROP_WAIT,
            }),
        }
    }

    /// Waits `wait` instead of [`DROP_WAIT`] for the writer when the last
    /// handle is dropped. Only before the sink is first cloned (a sink
    /// already shared keeps its wait).
    #[cfg(test)]
    fn with_drop_wait(mut self, wait: Duration) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.drop_wait = wait;
        }
        self
    }

    /// The writer traces go through.
    pub fn writer(&self) -> &W {
        &self.shared.writer
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// The sink's counters since it was made.
    pub fn stats(&self) -> SinkStats {
        let s = &self.shared;
        let accepted = *lock(&s.accepted);
        let finished = *s.done.borrow();
        SinkStats {
            accepted,
            written: s.outcome.written.load(Ordering::Acquire),
            failed: s.outcome.failed.load(Ordering::Acquire),
            queue_full: s.queue_full.load(Ordering::Acquire),
            refused: s.refused.load(Ordering::Acquire),
            pending: accepted.saturating_sub(finished),
        }
    }

    /// Waits until every trace accepted so far is written or has failed,
    /// and returns the failures since the last flush: one error per lost
    /// trace.
    ///
    /// The same as [`Sink::flush`]; a [`Recorder`](crate::Recorder)'s own
    /// [`flush`](crate::Recorder::flush) calls it and folds the result into
    /// its [`FlushReport`](crate::sink::FlushReport).
    pub async fn flush(&self) -> Vec<SinkError> {
        let s = &self.shared;
        let target = *lock(&s.accepted);
        let mut done = s.done.clone();
        let reached = done.wait_for(|d| *d >= target).await.map(|d| *d).ok();
        // Without `reached` the writer thread is gone: whatever it had not
        // finished never will be.
        let finished = reached.unwrap_or_else(|| *done.borrow());
        let mut errors = self.take_failures();
        let abandoned = target.saturating_sub(finished);
        let already = s.abandoned_reported.fetch_max(abandoned, Ordering::AcqRel);
        for _ in already..abandoned {
            errors.push(SinkError::Other(format!(
                "the writer for {} stopped before writing an accepted trace",
                s.writer.destination()
            )));
        }
        errors
    }

    /// [`flush`](QueuedSink::flush) for synchronous code: blocks the calling
    /// thread until it is done. Do not call it from async code (use
    /// `flush().await`).
    pub fn flush_blocking(&self) -> Vec<SinkError> {
        futures::executor::block_on(self.flush())
    }

    fn take_failures(&self) -> Vec<SinkError> {
        self.shared.take_failures()
    }
}

impl<W: TraceWriter> Shared<W> {
    fn take_failures(&self) -> Vec<SinkError> {
        let mut failures = lock(&self.outcome.failures);
        let mut errors = std::mem::take(&mut failures.kept);
        let not_kept = std::mem::take(&mut failures.not_kept);
        drop(failures);
        for _ in 0..not_kept {
            errors.push(SinkError::write(
                "(not kept)",
                format!(
                    "one of {not_kept} further failed writes into {}; details are kept for the first {MAX_KEPT_FAILURES} per flush",
                    self.writer.destination()
                ),
            ));
        }
        errors
    }
}

/// The last handle is gone: close the queue, give the writer up to
/// [`DROP_WAIT`] to write what is left, and say on stderr what no flush
/// will ever report.
impl<W> Drop for Shared<W> {
    fn drop(&mut self) {
        let Some(queue) = self.queue.take() else {
            return;
        };
        // The writer drains the queue, then returns.
        drop(queue);
        let timed_out = self
            .writer_gone
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|gone| {
                matches!(
                    gone.recv_timeout(self.drop_wait),
                    Err(RecvTimeoutError::Timeout)
                )
            });
        let accepted = *lock(&self.accepted);
        let finished = *self.done.borrow();
        let unfinished = accepted
            .saturating_sub(finished)
            .saturating_sub(self.abandoned_reported.load(Ordering::Acquire));
        let (failed, first) = {
            let failures = lock(&self.outcome.failures);
            let count = failures.kept.len() as u64 + failures.not_kept;
            (count, failures.kept.first().map(ToString::to_string))
        };
        let wait = self.drop_wait;
        if let Some(line) = drop_report(
            unfinished,
            timed_out.then_some(wait),
            failed,
            first.as_deref(),
        ) {
            eprintln!("{line}");
        }
    }
}

/// The one stderr line for traces lost when a sink's last handle is
/// dropped without a flush, or `None` when nothing was lost.
fn drop_report(
    unfinished: u64,
    timed_out: Option<Duration>,
    failed: u64,
    first: Option<&str>,
) -> Option<String> {
    let lost = unfinished + failed;
    if lost == 0 {
        return None;
    }
    let mut why = Vec::new();
    if unfinished > 0 {
        why.push(match timed_out {
            Some(wait) => format!(
                "{unfinished} still unwritten after waiting {} for the writer",
                humantime::format_duration(wait)
            ),
            None => format!("{unfinished} never written (the writer stopped)"),
        });
    }
    if failed > 0 {
        let first = first.map(|e| format!(", first: {e}")).unwrap_or_default();
        why.push(format!("{failed} failed to write{first}"));
    }
    Some(format!(
        "tracedeck: {lost} trace(s) lost: the sink was dropped without flush(): {}",
        why.join("; ")
    ))
}

impl<W: TraceWriter> Sink for QueuedSink<W> {
    fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError> {
        let s = &self.shared;
        if let Err(refused) = s.writer.check(&trace) {
            s.refused.fetch_add(1, Ordering::Relaxed);
            return Err(refused);
        }
        let Some(queue) = &s.queue else {
            s.refused.fetch_add(1, Ordering::Relaxed);
            return Err(SinkError::Closed {
                key: trace.key().to_owned(),
            });
        };
        // The key is copied only on failure: the queue hands the trace back.
        let mut accepted = lock(&s.accepted);
        let accepted_at = W::NEEDS_ACCEPT_TIME.then(Instant::now);
        let sent = queue.try_send((trace, accepted_at));
        if sent.is_ok() {
            *accepted += 1;
        }
        drop(accepted);
        match sent {
            Ok(()) => Ok(()),
            Err(TrySendError::Full((trace, _))) => {
                s.queue_full.fetch_add(1, Ordering::Relaxed);
                Err(SinkError::QueueFull {
                    key: trace.key().to_owned(),
                })
            }
            Err(TrySendError::Disconnected((trace, _))) => {
                s.refused.fetch_add(1, Ordering::Relaxed);
                Err(SinkError::Closed {
                    key: trace.key().to_owned(),
                })
            }
        }
    }

    fn flush(&self) -> BoxFuture<'_, Vec<SinkError>> {
        Box::pin(QueuedSink::flush(self))
    }

    /// Clones share one queue and writer: recorders built on clones of one
    /// sink hand a trace they share to it once.
    fn identity(&self) -> *const () {
        Arc::as_ptr(&self.shared).cast()
    }
}

impl<W: TraceWriter> fmt::Debug for QueuedSink<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuedSink")
            .field("destination", &self.shared.writer.destination())
            .field("capacity", &self.shared.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}

/// A queued trace, with the instant it was accepted when its writer asks
/// for it ([`TraceWriter::NEEDS_ACCEPT_TIME`]).
type Queued = (Arc<Trace>, Option<Instant>);

/// The writer thread: writes each queued trace until every sender is gone.
fn write_until_closed<W: TraceWriter>(
    queue: &Receiver<Queued>,
    writer: &W,
    outcome: &Outcome,
    done: &watch::Sender<u64>,
) {
    while let Ok((trace, accepted_at)) = queue.recv() {
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            writer.write_accepted(&trace, accepted_at)
        }));
        let failure = match written {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(panic) => Some(SinkError::Panicked {
                key: trace.key().to_owned(),
                message: panic_message(panic.as_ref()),
            }),
        };
        match failure {
            None => {
                outcome.written.fetch_add(1, Ordering::AcqRel);
            }
            Some(error) => {
                outcome.failed.fetch_add(1, Ordering::AcqRel);
                let mut failures = lock(&outcome.failures);
                if failures.kept.len() < MAX_KEPT_FAILURES {
                    failures.kept.push(error);
                } else {
                    failures.not_kept += 1;
                }
            }
        }
        // Counted last, so a flush that sees this trace done also sees its outcome.
        done.send_modify(|d| *d += 1);
    }
}

/// Locks `m`, carrying on past a poisoned lock: every value kept behind these
/// locks is valid at any point.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;
    use crate::span::{Span, SpanKind};

    /// A writer of its own, as an OpenTelemetry or object-store sink would
    /// be: keeps the keys it wrote, fails `bad`, panics on `boom`, refuses
    /// `refused` up front.
    #[derive(Default)]
    struct KeyWriter {
        written: Mutex<Vec<String>>,
    }

    impl TraceWriter for KeyWriter {
        fn write(&self, trace: &Trace) -> Result<(), SinkError> {
            match trace.key() {
                "bad" => Err(SinkError::write_failed(
                    "bad",
                    io::Error::new(io::ErrorKind::StorageFull, "bucket full"),
                )),
                "boom" => panic!("writer exploded"),
                key => {
                    lock(&self.written).push(key.to_owned());
                    Ok(())
                }
            }
        }

        fn check(&self, trace: &Trace) -> Result<(), SinkError> {
            match trace.key() {
                "refused" => Err(SinkError::write("refused", "not for this writer")),
                _ => Ok(()),
            }
        }

        fn destination(&self) -> String {
            "the test bucket".into()
        }
    }

    /// A writer stuck on its first trace until `release` is sent to.
    struct StuckWriter {
        release: Mutex<Receiver<()>>,
        written: Arc<AtomicU64>,
    }

    impl TraceWriter for StuckWriter {
        fn write(&self, _trace: &Trace) -> Result<(), SinkError> {
            let _ = lock(&self.release).recv();
            self.written.fetch_add(1, Ordering::AcqRel);
            Ok(())
        }

        fn destination(&self) -> String {
            "the stuck bucket".into()
        }
    }

    #[test]
    fn dropping_the_last_handle_waits_for_the_writer_a_bounded_time() {
        // A writer that finishes: the drop waits until all is written.
        let written = Arc::new(AtomicU64::new(0));
        let (release, rx) = mpsc::channel();
        let writer = StuckWriter {
            release: Mutex::new(rx),
            written: Arc::clone(&written),
        };
        let sink = QueuedSink::new(writer, 8, "test-writer");
        for key in ["a", "b", "c"] {
            sink.accept(trace(key)).unwrap();
        }
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        let clone = sink.clone();
        // Not the last handle: nothing to wait for.
        drop(sink);
        drop(clone);
        assert_eq!(
            written.load(Ordering::Acquire),
            3,
            "the last drop waited for every write"
        );

        // A writer that never finishes: the drop gives up after its wait.
        let (release, rx) = mpsc::channel::<()>();
        let writer = StuckWriter {
            release: Mutex::new(rx),
            written: Arc::new(AtomicU64::new(0)),
        };
        let sink =
            QueuedSink::new(writer, 8, "test-writer").with_drop_wait(Duration::from_millis(20));
        sink.accept(trace("stuck")).unwrap();
        drop(sink);
        // Only now is the writer let go (it then finds the queue closed).
        drop(release);
    }

    #[test]
    fn the_drop_line_says_how_many_were_lost_and_why() {
        assert_eq!(drop_report(0, None, 0, None), None);
        assert_eq!(
            drop_report(2, Some(Duration::from_secs(10)), 0, None).as_deref(),
            Some(
                "tracedeck: 2 trace(s) lost: the sink was dropped without flush(): \
                 2 still unwritten after waiting 10s for the writer"
            )
        );
        assert_eq!(
            drop_report(1, None, 3, Some("could not write trace `k`: disk full")).as_deref(),
            Some(
                "tracedeck: 4 trace(s) lost: the sink was dropped without flush(): \
                 1 never written (the writer stopped); 3 failed to write, first: \
                 could not write trace `k`: disk full"
            )
        );
    }

    fn trace(key: &str) -> Arc<Trace> {
        Arc::new(Trace::new(vec![Span::fixture(0, None, key, SpanKind::Task)]).unwrap())
    }

    #[test]
    fn any_writer_gets_the_queue_the_thread_and_the_loss_reports() {
        let sink = QueuedSink::new(KeyWriter::default(), 8, "test-writer");
        for key in ["a", "bad", "boom", "b"] {
            sink.accept(trace(key)).unwrap();
        }
        assert_eq!(
            sink.accept(trace("refused")),
            Err(SinkError::write("refused", "not for this writer"))
        );

        let errors = sink.flush_blocking();
        assert_eq!(*lock(&sink.writer().written), ["a", "b"]);
        let [failed, panicked] = errors.try_into().unwrap();
        let io = std::error::Error::source(&failed).expect("the write keeps its source");
        assert_eq!(
            io.downcast_ref::<io::Error>().map(io::Error::kind),
            Some(io::ErrorKind::StorageFull)
        );
        assert!(
            matches!(&panicked, SinkError::Panicked { key, message } if key == "boom" && message == "writer exploded"),
            "{panicked:?}"
        );
        assert_eq!(
            sink.stats(),
            SinkStats {
                accepted: 4,
                written: 2,
                failed: 2,
                queue_full: 0,
                refused: 1,
                pending: 0,
            }
        );
        assert!(
            sink.flush_blocking().is_empty(),
            "each loss is reported once"
        );
    }
}
