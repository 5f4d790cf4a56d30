//! Real model providers over HTTP: [`OpenAi`] (Chat Completions, and any
//! OpenAI-compatible server), [`OpenAiResponses`] (the Responses API) and
//! [`Anthropic`] (Messages). Each is a [`Model`](crate::Model): wrap it in a
//! [`Recorder`](crate::Recorder) to record production sessions. All three
//! are one [`HttpAdapter`] over their API's wire format, so they share the
//! builder setters (`api_key`, `base_url`, `header`, `http_client`) and the
//! `Model` implementation; each adds only its API's own settings.
//!
//! ```no_run
//! use std::sync::Arc;
//! use futures::StreamExt;
//! use tracedeck::providers::Anthropic;
//! use tracedeck::{Collector, Model, ModelRequest, Recorder, with_span};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let traces = Collector::new();
//! let claude = Arc::new(Recorder::new(Anthropic::from_env("claude-haiku-4-5")?, traces.clone()));
//! with_span("chat-turn", "hello", async {
//!     let mut parts = claude.stream(ModelRequest::new("claude-haiku-4-5").user("Hello!")).await?;
//!     while let Some(part) = parts.next().await {
//!         println!("{:?}", part?);
//!     }
//!     Ok::<_, tracedeck::ModelError>(())
//! })
//! .await?;
//! # Ok(()) }
//! ```
//!
//! # What the adapters guarantee
//!
//! - **Streaming and TTFT.** Every event is decoded the moment its bytes
//!   arrive, into [`StreamPart`](crate::StreamPart)s that keep the
//!   content/framing split: metadata, role-only deltas, pings
//!   ([`KeepAlive`](crate::StreamPart::KeepAlive)), block starts and stops and
//!   usage are framing; text, reasoning, refusals and tool calls are content.
//!   So a recorder's TTFT lands on the first event that carries model output.
//!   The last part of a stream that completes is always one
//!   [`Finish`](crate::StreamPart::Finish) with the final [`Usage`](crate::model::Usage)
//!   and the provider's own finish string in
//!   [`FinishReason::raw`](crate::model::FinishReason::raw) (`""`, kind `Other`,
//!   when the provider sent none).
//! - **Usage**, normalized: `input_tokens` include cached prompt tokens
//!   (Anthropic reports them apart; they are added back), `cached_input_tokens`,
//!   `cache_creation_input_tokens` and `reasoning_tokens` where given. Sums
//!   of provider numbers saturate at `u64::MAX`; a count that is not an
//!   unsigned integer (negative, float, string) reads as absent.
//! - **Partial output.** A stream that ends in an error keeps what the
//!   provider said before it: text, tool calls, and a finish reason and
//!   usage already received (given as a `Finish` ahead of the error, also
//!   when the body is cut short or the connection breaks), so a recorder's
//!   failed span holds them too.
//! - **Errors.** An HTTP error status is [`ModelError::Http`](crate::ModelError::Http)
//!   with the provider's message and, for 429/5xx, the `Retry-After` delay in
//!   `retry_after_ms`; an error event mid-stream ends the stream with
//!   [`ModelError::Provider`](crate::ModelError::Provider) (its `kind` is the
//!   error's `type`, else its `code`; a code beside a different type ends
//!   the message as `(code: …)`); a body that ends
//!   before the protocol's end marker is [`ModelError::Truncated`](crate::ModelError::Truncated).
//!   A request the wire format cannot express is an [`AdapterError`] (as
//!   [`ModelError::Config`](crate::ModelError::Config)), before anything is sent.
//! - **Secrets.** Keys go into an HTTP header and nowhere else: not into the
//!   [`ModelRequest`](crate::ModelRequest), spans, `Debug` output or errors
//!   (a server echoing the key gets it replaced by `<redacted>`).
//! - **`extra`.** A request's `extra` fields are merged into the wire body
//!   last (objects key by key), so anything the mapping lacks can be sent.
//!   `stream` is the one field it cannot change.
//!
//! The pieces are public for custom transports and tests: [`sse`] reads
//! server-sent events from bytes split anywhere, [`BodyDecoder`] turns a body
//! into parts, and each API's [`ProtocolDecoder`] works event by event.
//! The way back is [`codec`]: a recorded call encoded into any of the three
//! protocols' wire responses (SSE chunks at the recorded part offsets, JSON
//! answers, error bodies), which decode back to the same call.
//!
//! How the figures differ from what the providers send raw, as checked
//! against 53 real stream bodies, is in `docs/providers.md`.

#[cfg(feature = "http")]
mod adapter;
pub mod anthropic;
#[cfg(feature = "http")]
mod body_stream;
pub mod codec;
mod decoder;
#[cfg(feature = "http")]
mod error;
#[cfg(feature = "http")]
mod http;
pub mod openai_chat;
pub mod openai_responses;
#[cfg(feature = "http")]
mod secret;
mod shared;
pub mod sse;
#[cfg(feature = "http")]
mod wire_api;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use adapter::HttpAdapter;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use anthropic::Anthropic;
pub use decoder::{BodyDecoder, ProtocolDecoder};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use error::AdapterError;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use openai_chat::OpenAi;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use openai_responses::OpenAiResponses;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use secret::ApiKey;
