use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::time::Instant;

use crate::context::LiveSpan;
use crate::model::{ModelError, PartStream, StreamPart};
use crate::span::SpanStatus;

/// Passes an inner stream's items through unchanged while recording each
/// part's arrival into the call's span; ends the span on the stream's end, on
/// its first error, or (as cancelled) when dropped early.
///
/// This is the per-part hot path: per part it reads the clock once and keeps
/// one clone of the part. No JSON is built on it: the request and the
/// summarized response stay typed until the finished trace is read.
pub(crate) struct RecordingStream {
    inner: PartStream,
    span: LiveSpan,
}

impl RecordingStream {
    pub(crate) fn new(inner: PartStream, mut span: LiveSpan) -> Self {
        // A stream that knows how many parts it has (a replayed one, say)
        // gets room for them at once: no copies of the kept parts as they grow.
        span.reserve_parts(inner.size_hint().0);
        Self { inner, span }
    }
}

impl Stream for RecordingStream {
    type Item = Result<StreamPart, ModelError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = futures::ready!(this.inner.as_mut().poll_next(cx));
        if this.span.is_ended() {
            return Poll::Ready(item);
        }
        let now = Instant::now();
        match &item {
            Some(Ok(part)) => this.span.part(part, now),
            Some(Err(err)) => this
                .span
                .end(SpanStatus::Error, None, Some(err.clone()), now),
            None => this.span.end(SpanStatus::Ok, None, None, now),
        }
        Poll::Ready(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}
