use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::task::JoinHandle;
use tokio::task::futures::TaskLocalFuture;

use super::{CURRENT, SpanContext, current_span};

pin_project! {
    /// A future that runs inside a given span (or explicitly inside none);
    /// made by [`InSpan`].
    pub struct InCurrentSpan<F: Future> {
        #[pin]
        inner: TaskLocalFuture<Option<SpanContext>, F>,
    }
}

impl<F: Future> Future for InCurrentSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

/// Carries a span into a future that will run elsewhere, like
/// `tracing::Instrument`.
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
    /// a span.
    fn in_span(self, span: Option<SpanContext>) -> InCurrentSpan<Self> {
        InCurrentSpan {
            inner: CURRENT.scope(span, self),
        }
    }
}

impl<F: Future> InSpan for F {}

/// `tokio::spawn` that carries the caller's current span into the new task,
/// so the task's model calls are children of the span that spawned it.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(fut.in_current_span())
}
