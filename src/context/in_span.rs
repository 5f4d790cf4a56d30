use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::task::JoinHandle;
use tokio::task::futures::TaskLocalFuture;

use super::live::TraceHold;
use super::{CURRENT, SpanContext, current_span};

pin_project! {
    /// A future that runs inside a given span (or explicitly inside none);
    /// made by [`InSpan`].
    ///
    /// While it exists it keeps that span's trace open: the trace is handed
    /// to its sinks only once this future has completed or been dropped, so
    /// calls it makes after the span that carried it has ended still land in
    /// the trace (as `tracing` keeps a span alive while an instrumented
    /// future exists).
    pub struct InCurrentSpan<F: Future> {
        // Declared first so it drops first: spans still running in the
        // future end (as cancelled) before the hold lets the trace go.
        #[pin]
        inner: TaskLocalFuture<Option<SpanContext>, F>,
        hold: Option<TraceHold>,
    }
}

impl<F: Future> Future for InCurrentSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let poll = this.inner.poll(cx);
        if poll.is_ready() {
            // Done: the trace no longer waits for this future. Released here
            // rather than on drop, since a finished future may be kept.
            this.hold.take();
        }
        poll
    }
}

/// Carries a span into a future that will run elsewhere, like
/// `tracing::Instrument`.
///
/// The carried span's trace stays open until the future completes or is
/// dropped, so a task spawned just before its span ends still records into
/// it; the trace is delivered once, after the last carried future ends. A
/// carried future that is never polled to completion nor dropped keeps its
/// trace from being delivered.
///
/// ```
/// use tracedeck::InSpan;
/// # async fn demo() {
/// // A task spawned with the current span: its model calls are children of it.
/// tokio::spawn(async { /* model calls */ }.in_current_span());
/// # }
/// ```
pub trait InSpan: Future + Sized {
    /// Runs this future inside the caller's current span (captured now).
    fn in_current_span(self) -> InCurrentSpan<Self> {
        self.in_span(current_span())
    }

    /// Runs this future inside `span`, or inside no span for `None`: then
    /// its model calls are roots of their own even where it is awaited inside
    /// a span. `span`'s trace is held open from now until the future
    /// completes or is dropped.
    fn in_span(self, span: Option<SpanContext>) -> InCurrentSpan<Self> {
        InCurrentSpan {
            hold: span.as_ref().and_then(SpanContext::hold),
            inner: CURRENT.scope(span, self),
        }
    }
}

impl<F: Future> InSpan for F {}

/// `tokio::spawn` that carries the caller's current span into the new task,
/// so the task's model calls are children of the span that spawned it, even
/// when that span ends before the task runs: its trace waits for the task.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(fut.in_current_span())
}
