//! Re-emitting one recorded `llm` span on tokio's clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures::Stream;
use futures::future::BoxFuture;
use tokio::time::{Instant, Sleep, sleep_until};

use super::Speed;
use super::miss::PlaybackApi;
use crate::model::{
    ModelError, ModelInfo, ModelResponse, PartStream, ResponseAccumulator, StreamPart,
};
use crate::span::{Span, SpanStatus};

/// One recorded call being served: the span, where it came from, and the
/// instant the new call was made (every recorded offset counts from it).
pub(crate) struct Playback {
    /// The recorded span, inside its shared trace (not a copy).
    pub(crate) span: super::player::SpanRef,
    /// The player's key, for errors.
    pub(crate) key: Arc<str>,
    /// Where the span was recorded (`trace <id>, span #<n>`), for errors.
    pub(crate) origin: Arc<str>,
    pub(crate) start: Instant,
    pub(crate) speed: Speed,
    /// The API playing back, for what to do after a miss.
    pub(crate) api: PlaybackApi,
}

/// Tokio's timer resolution: a timer fires at the first millisecond tick
/// at or after its deadline.
const TICK: std::time::Duration = std::time::Duration::from_millis(1);

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
            // Whatever is due by now (parts recorded at the opening instant,
            // or within the millisecond tokio's timer rounded the opening up
            // to) needs no timer.
            let reached = if self.speed.is_instant() {
                self.start
            } else {
                Instant::now()
            };
            Ok(Box::pin(Replayed {
                playback: self,
                next: Some(0),
                reached,
                timer: None,
            }) as PartStream)
        })
    }

    /// The recorded offset of the item at position `i`: a part's, or after
    /// the last part, the recorded ending's.
    fn offset_of(&self, i: usize) -> u64 {
        let span = &self.span;
        match span.parts.get(i) {
            Some(recorded) => recorded.offset_us,
            None if span.status == SpanStatus::Cancelled => {
                span.timing.duration_us.saturating_add(AFTER_CANCEL_US)
            }
            None => span.timing.duration_us,
        }
    }

    /// The item at position `i` (a part, or the recorded ending after the
    /// last part), once it is due; `None` ends the stream.
    fn item(&self, i: usize) -> Option<Result<StreamPart, ModelError>> {
        let span = &self.span;
        if let Some(recorded) = span.parts.get(i) {
            return Some(Ok(recorded.part.clone()));
        }
        match span.status {
            SpanStatus::Ok => None,
            SpanStatus::Error => Some(Err(recorded_error(span))),
            SpanStatus::Cancelled => Some(Err(self.cancelled_error())),
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

/// A recorded stream being re-emitted: each part, one by one and in order,
/// no earlier than its recorded offset from the call.
///
/// Timers are spent only where the clock must move: one per distinct
/// deadline still ahead. A part whose deadline is not later than the latest
/// instant the stream has seen on the clock is due already (parts recorded
/// at the same instant, or within one millisecond that tokio's timer rounds
/// up to the same tick) and comes without a timer. The one timer is reused
/// from deadline to deadline.
struct Replayed {
    playback: Playback,
    /// The position of the next item; `None` once the stream has ended.
    next: Option<usize>,
    /// An instant the clock has been seen at: every deadline not later is due.
    reached: Instant,
    /// The timer of the deadline being waited for, reused for the next one.
    timer: Option<Pin<Box<Sleep>>>,
}

#[cfg(test)]
thread_local! {
    /// Timers this thread's replayed streams armed (unit tests count them).
    static TIMERS_ARMED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Replayed {
    /// Ready once the item at `i` is due: at once if its deadline is
    /// reached, else when the timer for it fires.
    fn poll_due(&mut self, i: usize, cx: &mut Context<'_>) -> Poll<()> {
        let speed = self.playback.speed;
        if !speed.is_instant() {
            let deadline = speed.deadline(self.playback.start, self.playback.offset_of(i));
            // Tokio fires a timer at its next millisecond tick, so a deadline
            // less than a millisecond past the last one reached may be due
            // already: only then is the clock worth reading.
            if deadline > self.reached && deadline < self.reached + TICK {
                self.reached = self.reached.max(Instant::now());
            }
            if deadline > self.reached {
                let timer = match &mut self.timer {
                    Some(timer) => {
                        if timer.deadline() != deadline {
                            timer.as_mut().reset(deadline);
                            #[cfg(test)]
                            TIMERS_ARMED.with(|n| n.set(n.get() + 1));
                        }
                        timer
                    }
                    None => {
                        #[cfg(test)]
                        TIMERS_ARMED.with(|n| n.set(n.get() + 1));
                        self.timer.insert(Box::pin(sleep_until(deadline)))
                    }
                };
                ready!(timer.as_mut().poll(cx));
                // The clock may be past the deadline (tokio rounds it up to
                // its next millisecond tick): what is due by then comes
                // without a timer, once the clock is read for it (above).
                self.reached = deadline;
                return Poll::Ready(());
            }
        }
        // Due already: no timer, but still a step of the task's cooperative
        // budget, as a timer's poll would be, so a long run of parts due at
        // once lets the runtime's other tasks run now and then.
        ready!(tokio::task::coop::poll_proceed(cx)).made_progress();
        Poll::Ready(())
    }
}

impl Stream for Replayed {
    type Item = Result<StreamPart, ModelError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(i) = this.next else {
            return Poll::Ready(None);
        };
        ready!(this.poll_due(i, cx));
        let item = this.playback.item(i);
        this.next = match &item {
            Some(Ok(_)) => Some(i + 1),
            _ => None,
        };
        Poll::Ready(item)
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
        Some(output) => {
            serde::Deserialize::deserialize(output.as_value()).map_err(|e| ModelError::Decode {
                provider: "replay".to_owned(),
                message: format!("the recorded output of {origin} is not a model response: {e}"),
            })
        }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::TIMERS_ARMED;
    use crate::testing::{Script, ScriptedModel};
    use crate::{Collector, Model, ModelRequest, Player, Recorder, StreamPart, Trace, with_span};

    /// A recorded stream of one part per entry of `offsets_us`, opened at
    /// 1 ms and ended at its last part.
    async fn recorded(offsets_us: &[u64]) -> Trace {
        let script = (0..offsets_us.len()).fold(
            Script::new().open_after(Duration::from_millis(1)),
            |s, i| s.part(StreamPart::text(format!("t{i}"))),
        );
        let traces = Collector::new();
        let model = Recorder::new(ScriptedModel::new(script), traces.clone());
        with_span("t", 0, async {
            let mut parts = model
                .stream(ModelRequest::new("m").user("s"))
                .await
                .unwrap();
            while parts.next().await.is_some() {}
        })
        .await;
        let mut trace = traces.take().remove(0);
        let stream = trace.spans.iter_mut().find(|s| s.streamed).unwrap();
        for (part, offset) in stream.parts.iter_mut().zip(offsets_us) {
            part.offset_us = *offset;
        }
        stream.timing.opened_us = Some(1_000);
        stream.timing.duration_us = *offsets_us.last().unwrap();
        trace
    }

    /// Replays `trace`'s stream on this thread; returns the timers armed
    /// and the parts served.
    async fn timers_to_replay(player: &Player) -> (usize, usize) {
        let before = TIMERS_ARMED.with(|n| n.get());
        let mut parts = player
            .stream(ModelRequest::new("m").user("s"))
            .await
            .unwrap();
        let mut served = 0;
        while let Some(part) = parts.next().await {
            part.unwrap();
            served += 1;
        }
        (TIMERS_ARMED.with(|n| n.get()) - before, served)
    }

    #[tokio::test(start_paused = true)]
    async fn one_timer_per_distinct_deadline_not_one_per_part() {
        // 10 distinct offsets, 100 parts each, due at 6 distinct
        // millisecond ticks: 2, 3 (2.3, 2.999 and 3 ms), 8 (7.001, 7.002,
        // 7.999 ms), 12, 13 and 41 ms.
        let ten = [
            1_500, 2_300, 2_999, 3_000, 7_001, 7_002, 7_999, 12_000, 12_001, 40_250,
        ];
        let offsets: Vec<u64> = ten.iter().flat_map(|&o| [o; 100]).collect();
        let player = Player::from_traces("t", [recorded(&offsets).await]);
        assert_eq!(timers_to_replay(&player).await, (6, 1_000));
    }

    #[tokio::test(start_paused = true)]
    async fn parts_at_the_opening_instant_need_no_timer() {
        let player = Player::from_traces("t", [recorded(&[1_000, 1_000, 1_000]).await]);
        assert_eq!(timers_to_replay(&player).await, (0, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn instant_speed_arms_no_timer() {
        let offsets: Vec<u64> = (1..=50).map(|i| i * 1_000).collect();
        let player = Player::from_traces("t", [recorded(&offsets).await])
            .speed(crate::replay::Speed::instant());
        assert_eq!(timers_to_replay(&player).await, (0, 50));
    }
}
