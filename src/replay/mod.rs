//! Replay: turning recordings into deterministic tests.
//!
//! - [`Player`] is a [`Model`](crate::Model) that answers each call from a
//!   recorded `llm` span, matched by the sha256 of the canonical request (after
//!   redaction and the paths you choose to ignore), and re-emits streams part
//!   by part at their recorded offsets on tokio's clock.
//! - [`Mode`] says whether a cassette in front of a live model replays,
//!   records, does both, or stays out of the way.
//! - A call with no recording fails with
//!   [`ModelError::CassetteMiss`](crate::ModelError::CassetteMiss), whose
//!   detail shows, path by path, how the request differs from the closest
//!   recorded one and what to do next.

mod error;
mod ignored_path;
mod json_diff;
mod mode;
mod tree_diff;

pub use error::ReplayError;
pub use ignored_path::IgnoredPath;
pub use json_diff::{JsonChange, diff_json};
pub use mode::Mode;
pub use tree_diff::{LlmTiming, SpanChange, SpanTreeDiff};
