//! The clients people already use, recorded and replayed in process: their
//! calls go through any tracedeck [`Model`](crate::Model) (a
//! [`Recorder`](crate::Recorder) around a live model, a
//! [`CassetteModel`](crate::CassetteModel), a [`Player`](crate::Player), a
//! [`ScriptedModel`](crate::ScriptedModel)), so they land in the same spans
//! and cassettes, with the same timing and attribution, as native calls.
//!
//! - [`async_openai`] (feature `async-openai`): an `async_openai::Client`
//!   whose chat completions, streamed or not, are served by a tracedeck model
//!   through async-openai's tower seam; no server, no socket.

#[cfg(feature = "async-openai")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-openai")))]
pub mod async_openai;
