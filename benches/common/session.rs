//! A recorded session to store and replay: chat turns, one after another,
//! each a `chat-turn` span around one streamed call, recorded on the paused
//! clock so every offset is exact.

use std::time::Duration;

use tracedeck::model::{FinishReason, Role, Usage};
use tracedeck::{Collector, Model, Recorder, Script, ScriptedModel, StreamPart, Trace, with_span};

use super::{chat_request, drain};

/// The key every turn of the session is recorded under.
pub const KEY: &str = "chat-turn";

/// How long the model takes to open each stream.
const OPEN: Duration = Duration::from_millis(250);
/// The gap between two parts, as a hosted model streams tokens.
const GAP: Duration = Duration::from_millis(20);

/// The request of turn `turn`: the typical chat turn, plus a question naming it.
pub fn turn_request(turn: usize) -> tracedeck::ModelRequest {
    chat_request().user(format!("Turn {turn}: and what about a stopover in Seoul?"))
}

/// A script of `parts` parts (at least 3): stream start and role at once,
/// then text deltas and the finish, one every [`GAP`].
fn script(parts: usize) -> Script {
    let mut script = Script::new()
        .open_after(OPEN)
        .part(StreamPart::StreamStart)
        .part(StreamPart::RoleDelta {
            role: Role::Assistant,
        });
    for i in 0..parts - 3 {
        script = script.part_after(GAP, StreamPart::text(format!(" token{i}")));
    }
    script.part_after(
        GAP,
        StreamPart::Finish {
            reason: FinishReason::stop(),
            usage: Some(Usage::new(120, parts as u64 - 3)),
        },
    )
}

/// Records `turns` turns of `parts` parts each, one after another, on a
/// paused clock. Returns the traces in recorded order and the session's
/// duration on that clock.
pub fn record_session(turns: usize, parts: usize) -> (Vec<Trace>, Duration) {
    tracedeck::testing::run_paused(async {
        let traces = Collector::new();
        let model = Recorder::new(ScriptedModel::new(script(parts)), traces.clone());
        let start = tokio::time::Instant::now();
        for turn in 0..turns {
            with_span(KEY, turn, async {
                let stream = model.stream(turn_request(turn)).await?;
                drain(stream).await
            })
            .await
            .expect("a scripted turn never fails");
        }
        let duration = start.elapsed();
        let traces = traces.take();
        assert_eq!(traces.len(), turns, "one trace per turn");
        (traces, duration)
    })
}
