use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Sink, SinkError, panic_message};
use crate::span::Trace;

/// A [`Sink`] that hands every trace to several sinks, in order.
///
/// A [`Recorder`](crate::Recorder) takes one sink; a `Tee` lets it feed, say,
/// a cassette store and a tracing export at once. Each member gets every
/// trace even when an earlier one refuses it or panics: a member's error or
/// panic is caught and reported (the first one from [`accept`](Sink::accept),
/// all of them from [`flush`](Sink::flush)), never passed on to the others
/// or to the model call. A trace any member lost counts as lost in the
/// recorder's [`FlushReport`](crate::sink::FlushReport).
///
/// A `Tee` is one destination of its own ([`Sink::identity`] is the tee's
/// address): two recorders should share one `Tee` (clone the `Arc`), not two
/// tees over the same member, or a trace through both is stored twice.
///
/// ```
/// use tracedeck::sink::Tee;
/// use tracedeck::{Collector, Recorder, ScriptedModel, Script, Model, ModelRequest, with_span};
/// # tracedeck::testing::run_paused(async {
/// let (a, b) = (Collector::new(), Collector::new());
/// let model = Recorder::new(
///     ScriptedModel::new(Script::text("hi")),
///     Tee::new(a.clone()).and(b.clone()),
/// );
/// with_span("greet", "hello", async {
///     model.generate(ModelRequest::new("m").user("hello")).await
/// })
/// .await
/// .unwrap();
/// assert_eq!((a.len(), b.len()), (1, 1));
/// assert!(model.flush().await.is_clean());
/// # });
/// ```
#[derive(Clone)]
pub struct Tee {
    sinks: Vec<Arc<dyn Sink>>,
}

impl Tee {
    /// A tee with one member; add more with [`and`](Tee::and).
    pub fn new(first: impl Sink) -> Self {
        Self {
            sinks: vec![Arc::new(first)],
        }
    }

    /// Adds `sink` after the members already there.
    pub fn and(mut self, sink: impl Sink) -> Self {
        self.sinks.push(Arc::new(sink));
        self
    }

    /// Adds a sink already behind an `Arc`.
    pub fn and_shared(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// How many sinks the tee feeds.
    pub fn len(&self) -> usize {
        self.sinks.len()
    }

    /// Whether it feeds none (never true: a tee starts with one member).
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }
}

impl std::fmt::Debug for Tee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tee")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl Sink for Tee {
    /// Hands `trace` to every member; returns the first member's error, if any.
    fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError> {
        let mut first_error = None;
        for sink in &self.sinks {
            let accepted = catch_unwind(AssertUnwindSafe(|| sink.accept(Arc::clone(&trace))));
            let err = match accepted {
                Ok(Ok(())) => continue,
                Ok(Err(err)) => err,
                Err(panic) => SinkError::Panicked {
                    key: trace.key().to_owned(),
                    message: panic_message(panic.as_ref()),
                },
            };
            first_error.get_or_insert(err);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Flushes every member, one after the other, and returns all their losses.
    fn flush(&self) -> BoxFuture<'_, Vec<SinkError>> {
        Box::pin(async move {
            let mut errors = Vec::new();
            for sink in &self.sinks {
                let flushed = AssertUnwindSafe(sink.flush());
                match futures::FutureExt::catch_unwind(flushed).await {
                    Ok(late) => errors.extend(late),
                    Err(panic) => errors.push(SinkError::Other(format!(
                        "a tee member panicked while flushing: {}",
                        panic_message(panic.as_ref())
                    ))),
                }
            }
            errors
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Collector;
    use crate::span::{Span, SpanKind};

    fn trace() -> Arc<Trace> {
        Arc::new(Trace::new(vec![Span::fixture(0, None, "turn", SpanKind::Task)]).unwrap())
    }

    struct Refuses;
    impl Sink for Refuses {
        fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError> {
            Err(SinkError::Closed {
                key: trace.key().to_owned(),
            })
        }
    }

    struct Panics;
    impl Sink for Panics {
        fn accept(&self, _: Arc<Trace>) -> Result<(), SinkError> {
            panic!("boom")
        }
    }

    struct LateLoss;
    impl Sink for LateLoss {
        fn accept(&self, _: Arc<Trace>) -> Result<(), SinkError> {
            Ok(())
        }
        fn flush(&self) -> BoxFuture<'_, Vec<SinkError>> {
            Box::pin(futures::future::ready(vec![SinkError::Other(
                "late".into(),
            )]))
        }
    }

    #[test]
    fn every_member_gets_the_trace_even_after_a_refusal_or_a_panic() {
        let (a, b) = (Collector::new(), Collector::new());
        let tee = Tee::new(a.clone()).and(Refuses).and(Panics).and(b.clone());
        assert_eq!(tee.len(), 4);
        let err = tee.accept(trace()).unwrap_err();
        assert!(
            matches!(err, SinkError::Closed { ref key } if key == "turn"),
            "{err:?}"
        );
        assert_eq!((a.len(), b.len()), (1, 1));

        let err = Tee::new(Panics).and(a.clone()).accept(trace()).unwrap_err();
        assert!(
            matches!(err, SinkError::Panicked { ref message, .. } if message == "boom"),
            "{err:?}"
        );
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn a_clean_tee_accepts_and_flush_gathers_every_members_losses() {
        let tee = Tee::new(Collector::new()).and(LateLoss).and(LateLoss);
        tee.accept(trace()).unwrap();
        let late = futures::executor::block_on(tee.flush());
        assert_eq!(late.len(), 2);
        let clean = futures::executor::block_on(Tee::new(Collector::new()).flush());
        assert!(clean.is_empty());
    }
}
