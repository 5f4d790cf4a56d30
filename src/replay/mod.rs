//! Replay: turning recordings into deterministic tests.
//!
//! | noun | what it is for |
//! |---|---|
//! | [`Player`] | a [`Model`](crate::Model) that answers each call from recorded `llm` spans, matched by the sha256 of the canonical request, re-emitting streams at their recorded offsets on tokio's clock |
//! | [`replay()`], [`Replayer`] | a replay run: feed every recorded root input of a key back through your own async function, its model calls served from the recording (`Replayer` has the options) |
//! | [`ReplayReport`] | what a run found, per trace ([`TraceReplay`], [`TraceOutcome`]): output changes, span-tree changes ([`SpanTreeDiff`], [`SpanChange`]), TTFT and duration ([`LlmTiming`]), and a snapshot for insta |
//! | [`CassetteModel`] | a cassette folder in front of a live model, in one line: `CassetteModel::at(dir).in_front_of(live)?` (options on its [`CassetteModelBuilder`]) |
//! | [`Mode`] | whether that cassette replays, records, does both, or stays out of the way; `TRACEDECK_MODE` overrides |
//! | [`PlaybackOptions`] | the one set of playback options every noun above takes: ignored request paths, repeats, [`Speed`], redaction of live requests |
//! | [`ReplayError`] | why setting up or running a replay failed |
//!
//! A call with no recording fails with
//! [`ModelError::CassetteMiss`](crate::ModelError::CassetteMiss), whose detail
//! shows, path by path ([`json::diff_json`](crate::json::diff_json)), how the
//! request differs from the closest recorded one and what to do next.
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
pub(crate) mod miss;
mod mode;
mod options;
mod playback;
mod player;
mod replayer;
mod report;
mod request_matcher;
mod speed;
mod tree_diff;

pub use cassette_model::{CassetteModel, CassetteModelBuilder};
pub use error::ReplayError;
pub use mode::Mode;
pub use options::PlaybackOptions;
pub use player::Player;
pub use replayer::{Replayer, replay};
pub use report::{
    ReplayReport, ReplayReportSnapshot, ReplayTotals, SpanChangeSnapshot, TraceOutcome,
    TraceReplay, TraceReplaySnapshot,
};
pub use speed::Speed;
pub use tree_diff::{LlmTiming, SpanChange, SpanTreeDiff};
