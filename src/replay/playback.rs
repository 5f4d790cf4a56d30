//! Re-emitting one recorded `llm` span on tokio's clock.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream;
use tokio::time::Instant;

use super::Speed;
use super::miss::PlaybackApi;
use crate::model::{ModelError, ModelInfo, ModelResponse, PartStream, ResponseAccumulator};
use crate::span::{Span, SpanStatus};

/// One recorded call being served: the span, where it came from, and the
/// instant the new call was made (every recorded offset counts from it).
pub(crate) struct Playback {
    pub(crate) span: Arc<Span>,
    /// The player's key, for errors.
    pub(crate) key: Arc<str>,
    /// Where the span was recorded (`trace <id>, span #<n>`), for errors.
    pub(crate) origin: Arc<str>,
    pub(crate) start: Instant,
    pub(crate) speed: Speed,
    /// The API playing back, for what to do after a miss.
    pub(crate) api: PlaybackApi,
}

/// How long past the recorded end a cancelled recording waits before it
/// reports that nothing more was recorded: long enough that a consumer which
/// gave up at the recorded instant (a timeout, say) gives up first.
const AFTER_CANCEL_US: u64 = 1_000;

impl Playback {
    /// Answers in one piece after the recorded duration: the recorded
    /// response (or what a recorded stream's parts add up to), or the
    /// recorded error.
    pub(crate) fn generate(self) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        Box::pin(async move {
            let span = &self.span;
            match span.status {
                SpanStatus::Ok => {
                    self.speed.wait(self.start, span.timing.duration_us).await;
                    recorded_response(span, &self.origin)
                }
                SpanStatus::Error => {
                    self.speed.wait(self.start, span.timing.duration_us).await;
                    Err(recorded_error(span))
                }
                SpanStatus::Cancelled => {
                    let end = span.timing.duration_us.saturating_add(AFTER_CANCEL_US);
                    self.speed.wait(self.start, end).await;
                    Err(self.cancelled_error())
                }
            }
        })
    }

    /// Opens at the recorded `opened` offset, then yields every recorded
    /// part at its offset, then ends at the recorded end: cleanly, with the
    /// recorded error, or (for a stream its consumer dropped) with a
    /// `CassetteMiss` explaining that nothing more was recorded.
    ///
    /// A stream recorded without opening does not open: one that failed to
    /// open fails at the recorded end; one its caller gave up on before it
    /// opened (a timeout, say) is still opening when the caller gives up
    /// again, and fails with that `CassetteMiss` just after.
    pub(crate) fn stream(self) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        Box::pin(async move {
            let timing = self.span.timing;
            if timing.opened_us.is_none() {
                match self.span.status {
                    SpanStatus::Error => {
                        self.speed.wait(self.start, timing.duration_us).await;
                        return Err(recorded_error(&self.span));
                    }
                    SpanStatus::Cancelled => {
                        let end = timing.duration_us.saturating_add(AFTER_CANCEL_US);
                        self.speed.wait(self.start, end).await;
                        return Err(self.cancelled_error());
                    }
                    // Only a hand-made recording finishes without opening: open at once.
                    SpanStatus::Ok => {}
                }
            }
            self.speed
                .wait(self.start, timing.opened_us.unwrap_or(0))
                .await;
            let this = Arc::new(self);
            let parts = stream::unfold(Some(0usize), move |next| {
                let this = Arc::clone(&this);
                async move { this.step(next?).await }
            });
            Ok(Box::pin(parts) as PartStream)
        })
    }

    /// The item at position `i` (a part, or the recorded ending after the
    /// last part) and the position after it; `None` ends the stream.
    async fn step(
        &self,
        i: usize,
    ) -> Option<(Result<crate::model::StreamPart, ModelError>, Option<usize>)> {
        let span = &self.span;
        if let Some(recorded) = span.parts.get(i) {
            self.speed.wait(self.start, recorded.offset_us).await;
            return Some((Ok(recorded.part.clone()), Some(i + 1)));
        }
        let end = span.timing.duration_us;
        match span.status {
            SpanStatus::Ok => {
                self.speed.wait(self.start, end).await;
                None
            }
            SpanStatus::Error => {
                self.speed.wait(self.start, end).await;
                Some((Err(recorded_error(span)), None))
            }
            SpanStatus::Cancelled => {
                self.speed
                    .wait(self.start, end.saturating_add(AFTER_CANCEL_US))
                    .await;
                Some((Err(self.cancelled_error()), None))
            }
        }
    }

    fn cancelled_error(&self) -> ModelError {
        let span = &self.span;
        let progress = if span.streamed && span.timing.opened_us.is_none() {
            "before the stream opened".to_owned()
        } else {
            format!("after {} part(s)", span.parts.len())
        };
        ModelError::CassetteMiss {
            key: self.key.to_string(),
            detail: format!(
                "the recorded call ({}) was cancelled by its caller {} after the call, {progress}; \
                 nothing after that was recorded.\n\
                 If the code now waits for more, record the call again. {}",
                self.origin,
                crate::span::format_us(span.timing.duration_us),
                self.api.record_hint(),
            ),
        }
    }
}

/// The recorded error of a failed span.
fn recorded_error(span: &Span) -> ModelError {
    span.error.clone().unwrap_or_else(|| {
        ModelError::other(format!(
            "the recorded call (span {}) failed without a recorded error",
            span.id
        ))
    })
}

/// The recorded response of a finished span: its output, or for a stream
/// recorded without one, what its parts add up to.
fn recorded_response(span: &Span, origin: &str) -> Result<ModelResponse, ModelError> {
    match &span.output {
        Some(output) => serde_json::from_value(output.clone()).map_err(|e| ModelError::Decode {
            provider: "replay".to_owned(),
            message: format!("the recorded output of {origin} is not a model response: {e}"),
        }),
        None if span.streamed => {
            let model = span
                .model
                .clone()
                .unwrap_or_else(|| ModelInfo::new("replay", "unknown"));
            let mut acc = ResponseAccumulator::new(model);
            span.parts.iter().for_each(|p| acc.push(&p.part));
            Ok(acc.finish())
        }
        None => Err(ModelError::Decode {
            provider: "replay".to_owned(),
            message: format!("the recorded call {origin} finished but has no recorded output"),
        }),
    }
}
