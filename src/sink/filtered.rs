use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Sink, SinkError};
use crate::span::Trace;

/// A sink that passes on only the traces `keep` accepts: sampling in
/// production, or (as `#[tracedeck::test]` does) keeping a failed run from
/// replacing a good cassette.
///
/// A trace left out is not a loss: it is not counted by
/// [`flush`](crate::Recorder::flush).
///
/// ```
/// use tracedeck::Collector;
/// use tracedeck::sink::Filtered;
/// use tracedeck::span::SpanStatus;
///
/// // Keep only the traces whose root span ended well.
/// let kept = Collector::new();
/// let sink = Filtered::new(kept.clone(), |trace| trace.root().status == SpanStatus::Ok);
/// # let _ = sink;
/// ```
pub struct Filtered<S, F> {
    inner: S,
    keep: F,
}

impl<S, F> Filtered<S, F>
where
    S: Sink,
    F: Fn(&Trace) -> bool + Send + Sync + 'static,
{
    /// Passes to `inner` the traces for which `keep` is true.
    pub fn new(inner: S, keep: F) -> Self {
        Self { inner, keep }
    }

    /// The sink the kept traces go to.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S, F> Sink for Filtered<S, F>
where
    S: Sink,
    F: Fn(&Trace) -> bool + Send + Sync + 'static,
{
    fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError> {
        if (self.keep)(&trace) {
            self.inner.accept(trace)
        } else {
            Ok(())
        }
    }

    fn flush(&self) -> BoxFuture<'_, Vec<SinkError>> {
        self.inner.flush()
    }

    /// The inner sink's destination: two filters over one store are one
    /// destination.
    fn identity(&self) -> *const () {
        self.inner.identity()
    }
}

impl<S: std::fmt::Debug, F> std::fmt::Debug for Filtered<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filtered")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Collector;
    use crate::span::{Span, SpanKind, SpanStatus};

    fn trace(status: SpanStatus) -> Arc<Trace> {
        let mut root = Span::fixture(0, None, "turn", SpanKind::Task);
        root.status = status;
        Arc::new(Trace::new(vec![root]).unwrap())
    }

    #[test]
    fn only_the_kept_traces_reach_the_inner_sink_and_none_is_a_loss() {
        let kept = Collector::new();
        let sink = Filtered::new(kept.clone(), |t: &Trace| t.root().status == SpanStatus::Ok);
        assert!(sink.accept(trace(SpanStatus::Ok)).is_ok());
        assert!(sink.accept(trace(SpanStatus::Error)).is_ok());
        assert!(sink.accept(trace(SpanStatus::Cancelled)).is_ok());
        let statuses: Vec<_> = kept.traces().iter().map(|t| t.root().status).collect();
        assert_eq!(statuses, [SpanStatus::Ok]);
        assert_eq!(sink.identity(), kept.identity());
    }
}
