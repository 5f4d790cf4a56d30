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
//! - [`rig`] (feature `rig`): a rig completion model (for rig's agents,
//!   tools included) whose calls, unary or streamed, are served by a
//!   tracedeck model in the calling task.

#[cfg(feature = "async-openai")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-openai")))]
pub mod async_openai;

#[cfg(feature = "rig")]
#[cfg_attr(docsrs, doc(cfg(feature = "rig")))]
pub mod rig;
