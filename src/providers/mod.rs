//! Real model providers over HTTP: [`OpenAi`] (Chat Completions, and any
//! OpenAI-compatible server), [`OpenAiResponses`] (the Responses API) and
//! [`Anthropic`] (Messages). Each is a [`Model`](crate::Model): wrap it in a
//! [`Recorder`](crate::Recorder) to record production sessions.
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
//!   arrive, into [`StreamPart`]s that keep the
//!   content/framing split: metadata, role-only deltas, pings
//!   ([`KeepAlive`](crate::StreamPart::KeepAlive)), block starts and stops and
//!   usage are framing; text, reasoning, refusals and tool calls are content.
//!   So a recorder's TTFT lands on the first event that carries model output.
//!   The last part is always one [`Finish`](crate::StreamPart::Finish) with the
//!   final [`Usage`](crate::Usage) and the provider's own finish string in
//!   [`FinishReason::raw`](crate::FinishReason::raw).
//! - **Usage**, normalized: `input_tokens` include cached prompt tokens
//!   (Anthropic reports them apart; they are added back), `cached_input_tokens`,
//!   `cache_creation_input_tokens` and `reasoning_tokens` where given.
//! - **Errors.** An HTTP error status is [`ModelError::Http`](crate::ModelError::Http)
//!   with the provider's message and, for 429/5xx, the `Retry-After` delay in
//!   `retry_after_ms`; an error event mid-stream ends the stream with
//!   [`ModelError::Provider`](crate::ModelError::Provider); a body that ends
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

macro_rules! endpoint_builders {
    () => {
        /// Sends `key` with every call (on the wire only; it never appears in
        /// requests, recordings, errors or `Debug` output).
        pub fn api_key(mut self, key: impl Into<$crate::providers::ApiKey>) -> Self {
            self.endpoint.api_key = Some(key.into());
            self
        }

        /// Sends calls to `url` (scheme, host and path prefix) instead of the
        /// provider's own API, e.g. a proxy, a gateway or a local server. A
        /// URL that is not absolute `http`/`https` fails each call with
        /// [`AdapterError::InvalidBaseUrl`](crate::providers::AdapterError::InvalidBaseUrl).
        pub fn base_url(mut self, url: impl Into<String>) -> Self {
            self.endpoint.base_url = url.into();
            self
        }

        /// Sends the header `name: value` with every call (values are kept out
        /// of `Debug` output, as they are often credentials). An invalid
        /// header fails each call with
        /// [`AdapterError::InvalidHeader`](crate::providers::AdapterError::InvalidHeader).
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.endpoint.headers.push((name.into(), value.into()));
            self
        }

        /// Sends calls through `client` (for proxies, timeouts, custom TLS
        /// roots) instead of the adapter's own rustls client.
        pub fn http_client(mut self, client: reqwest::Client) -> Self {
            self.endpoint.client = Ok(client);
            self
        }
    };
}
pub(crate) use endpoint_builders;

pub mod anthropic;
mod body_stream;
mod decoder;
mod error;
mod http;
pub mod openai_chat;
pub mod openai_responses;
mod secret;
pub mod sse;
mod wire;

pub use anthropic::Anthropic;
pub use decoder::{BodyDecoder, ProtocolDecoder};
pub use error::AdapterError;
pub use openai_chat::OpenAi;
pub use openai_responses::OpenAiResponses;
pub use secret::ApiKey;

use crate::model::{ModelInfo, ModelResponse, ResponseAccumulator, StreamPart};

/// An environment variable, if set and not empty.
fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The response that `parts` add up to.
fn fold_parts(info: ModelInfo, parts: &[StreamPart]) -> ModelResponse {
    let mut acc = ResponseAccumulator::new(info);
    for part in parts {
        acc.push(part);
    }
    acc.finish()
}
