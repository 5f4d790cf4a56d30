//! Replay: turning recordings into deterministic tests.
//!
//! - [`Player`] is a [`Model`](crate::Model) that answers each call from a
//!   recorded `llm` span, matched by the sha256 of the canonical request (after
//!   the store's redaction and the paths you choose to ignore), and re-emits
//!   streams part by part at their recorded offsets on tokio's clock.
//! - A call with no recording fails with
//!   [`ModelError::CassetteMiss`](crate::ModelError::CassetteMiss), whose
//!   detail shows, path by path, how the request differs from the closest
//!   recorded one and what to do next.
//! - [`Mode`] says whether a cassette in front of a live model replays,
//!   records, does both, or stays out of the way; [`CassetteModel`] puts a
//!   cassette folder in front of a live model in one line.
//! - [`replay()`] (and [`Replayer`], with options) feeds every recorded root
//!   input of a key back through your own async function, serves its model
//!   calls from the recording, and returns a [`ReplayReport`]: what changed
//!   in the output, in the span tree, and in TTFT and duration.
//!
//! # Snapshot testing
//!
//! [`Trace::snapshot`](crate::Trace::snapshot) and
//! [`ReplayReport::snapshot`] are deterministic on a paused clock (sequential
//! ids, exact virtual times, no paths or dates), so they go straight into
//! insta with no redactions:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # async fn chat_turn(question: String, model: Arc<dyn tracedeck::Model>) -> String { question }
//! #[tokio::test(start_paused = true)]
//! async fn chat_turn_is_stable() {
//!     let store = tracedeck::Store::open("tests/cassettes").unwrap();
//!     let report = tracedeck::replay(&store, "chat-turn", chat_turn).await.unwrap();
//!     insta::assert_yaml_snapshot!(report.snapshot());
//!     let replayed = report.traces[0].replayed.as_ref().unwrap();
//!     insta::assert_yaml_snapshot!(replayed.snapshot());
//! }
//! ```
//!
//! Review changes with `cargo insta review`.

mod cassette_model;
mod error;
mod ignored_path;
mod miss;
mod mode;
mod playback;
mod player;
mod replayer;
mod report;
mod request_matcher;
mod speed;
mod tree_diff;

pub use cassette_model::{CassetteModel, CassetteModelBuilder};
pub use error::ReplayError;
pub use ignored_path::IgnoredPath;
pub use mode::Mode;
pub use player::Player;
pub use replayer::{Replayer, replay};
pub use report::{
    ReplayReport, ReplayReportSnapshot, ReplayTotals, SpanChangeSnapshot, TraceOutcome,
    TraceReplay, TraceReplaySnapshot,
};
pub use speed::Speed;
pub use tree_diff::{LlmTiming, SpanChange, SpanTreeDiff};
