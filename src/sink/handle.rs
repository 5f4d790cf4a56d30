use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::{Sink, SinkError};

/// The most errors a recorder keeps between flushes; beyond it only the count grows.
const MAX_KEPT_ERRORS: usize = 100;

/// What a [`Recorder::flush`](crate::Recorder::flush) found since the last flush.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Traces the sink accepted.
    pub delivered: u64,
    /// Traces lost: refused by the sink, lost to a sink panic, or failed to store.
    pub lost: u64,
    /// Why they were lost (the first hundred).
    pub errors: Vec<SinkError>,
}

impl FlushReport {
    /// Whether nothing was lost.
    pub fn is_clean(&self) -> bool {
        self.lost == 0
    }
}

/// A sink together with the counters of the recorder that feeds it.
#[derive(Clone)]
pub(crate) struct SinkHandle {
    pub(crate) sink: Arc<dyn Sink>,
    health: Arc<Health>,
}

#[derive(Default)]
struct Health {
    delivered: AtomicU64,
    lost: AtomicU64,
    errors: Mutex<Vec<SinkError>>,
}

/// The recorder's last handle is gone with losses no flush reported (traces
/// the sink refused: a full queue, a paused clock, ...): say so on stderr,
/// once, rather than lose them silently.
impl Drop for Health {
    fn drop(&mut self) {
        let lost = *self.lost.get_mut();
        if lost == 0 {
            return;
        }
        let errors = self
            .errors
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let first = errors
            .first()
            .map(|e| format!(", first: {e}"))
            .unwrap_or_default();
        eprintln!(
            "tracedeck: {lost} trace(s) lost: the recorder was dropped without flush(), and its sink refused them{first}"
        );
    }
}

impl SinkHandle {
    pub(crate) fn new(sink: Arc<dyn Sink>) -> Self {
        Self {
            sink,
            health: Arc::default(),
        }
    }

    /// Whether both handles feed the same destination ([`Sink::identity`]).
    pub(crate) fn same_sink(&self, other: &SinkHandle) -> bool {
        std::ptr::addr_eq(self.sink.identity(), other.sink.identity())
    }

    /// Hands `trace` to the sink; never panics, never fails.
    pub(crate) fn deliver(&self, trace: &Arc<crate::span::Trace>) {
        let accepted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.sink.accept(Arc::clone(trace))
        }));
        match accepted {
            Ok(Ok(())) => {
                self.health.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(err)) => self.lost(err),
            Err(panic) => self.lost(SinkError::Panicked {
                key: trace.key().to_owned(),
                message: panic_message(panic.as_ref()),
            }),
        }
    }

    /// Counts a trace refused before it reached the sink (reported by the
    /// next flush as lost, with `err`).
    pub(crate) fn refuse(&self, err: SinkError) {
        self.lost(err);
    }

    fn lost(&self, err: SinkError) {
        self.health.lost.fetch_add(1, Ordering::Relaxed);
        let mut errors = self
            .health
            .errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if errors.len() < MAX_KEPT_ERRORS {
            errors.push(err);
        }
    }

    /// Waits for the sink, then reports and resets the counters.
    pub(crate) async fn flush(&self) -> FlushReport {
        let flushed = std::panic::AssertUnwindSafe(self.sink.flush());
        let late = match futures::FutureExt::catch_unwind(flushed).await {
            Ok(errors) => errors,
            Err(panic) => vec![SinkError::Other(format!(
                "sink panicked while flushing: {}",
                panic_message(panic.as_ref())
            ))],
        };
        for err in late {
            // Errors the sink found after accepting a trace (e.g. a failed write)
            // move that trace from delivered to lost.
            let _ = self
                .health
                .delivered
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                    Some(d.saturating_sub(1))
                });
            self.lost(err);
        }
        let errors = std::mem::take(
            &mut *self
                .health
                .errors
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        FlushReport {
            delivered: self.health.delivered.swap(0, Ordering::Relaxed),
            lost: self.health.lost.swap(0, Ordering::Relaxed),
            errors,
        }
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
