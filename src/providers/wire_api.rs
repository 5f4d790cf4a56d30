//! What sets one provider API apart from another: the trait
//! [`HttpAdapter`](super::HttpAdapter) is generic over.
//!
//! Everything else an adapter does (the endpoint settings, the builder
//! setters, sending the call, scrubbing the key, folding a whole response,
//! streaming a body) is the same for every API and lives in `HttpAdapter`.
//! An API brings only its defaults, its path (a function of the request, as
//! some APIs name the model in it), its request body, its extra
//! headers and its two readers: one for a whole response, one for a stream.
//!
//! The trait is public only so that it can bound `HttpAdapter`'s public
//! methods; it sits in a private module, so nothing outside this crate can
//! name or implement it.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use super::decoder::ProtocolDecoder;
use super::error::AdapterError;
use super::http::AuthScheme;
use crate::model::{ModelError, ModelRequest, StreamPart};

/// Where an API lives and how a new adapter for it starts out.
#[derive(Debug, Clone, Copy)]
pub struct AdapterSetup {
    /// The adapter's name in errors and `Debug` output, e.g. `OpenAi`.
    pub adapter: &'static str,
    /// The provider named in [`ModelInfo`](crate::model::ModelInfo), recordings and
    /// errors, e.g. `openai`.
    pub provider: &'static str,
    /// The base URL calls go to unless the builder or the environment says
    /// otherwise.
    pub base_url: &'static str,
    /// How the key goes on the wire.
    pub auth: AuthScheme,
    /// The environment variable `from_env` reads the key from.
    pub key_variable: &'static str,
    /// The environment variable `from_env` reads a base URL from, if set.
    pub base_url_variable: &'static str,
}

/// One provider API's wire format, as the type parameter of
/// [`HttpAdapter`](super::HttpAdapter). A value of it holds the settings the
/// API adds to the shared ones (e.g. Anthropic's `anthropic-version`).
pub trait WireApi: Default + Clone + fmt::Debug + Send + Sync + 'static {
    /// Where the API lives and how a new adapter for it starts out.
    const SETUP: AdapterSetup;

    /// The path a call for `req` asking for `model` is sent to under the
    /// base URL, streamed or not: e.g. `/chat/completions` for every call,
    /// or, for an API that puts the model in the path (Gemini's
    /// `/models/{model}:streamGenerateContent`), one built from `model` and
    /// `stream` (escaping the model as a path segment is then the API's job).
    fn path(&self, req: &ModelRequest, model: &str, stream: bool) -> Cow<'static, str>;

    /// Reads a streamed response event by event.
    type StreamDecoder: ProtocolDecoder;

    /// The JSON body asking `model` to answer `req`, streamed or not; a
    /// request the format cannot express is an [`AdapterError`].
    fn body(&self, req: &ModelRequest, model: &str, stream: bool) -> Result<Value, AdapterError>;

    /// Headers the API requires besides the key and the builder's own.
    fn headers(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }

    /// A whole (non-streamed) response body as the parts a stream of it would
    /// carry, or the provider's error it holds.
    fn response_parts(provider: &str, body: &Value) -> Result<Vec<StreamPart>, ModelError>;

    /// A decoder for one streamed response from `provider`.
    fn stream_decoder(provider: String) -> Self::StreamDecoder;
}
