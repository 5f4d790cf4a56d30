//! Anthropic Messages (`POST {base}/v1/messages`, with the
//! `anthropic-version` header).

mod block;
mod encode;
mod mapping;
#[cfg(feature = "http")]
mod request;
#[cfg(feature = "http")]
mod response;
mod stream;

pub use stream::MessagesStreamDecoder;

pub(crate) use encode::{MessagesEncoder, messages_response_body};

#[cfg(feature = "http")]
use std::borrow::Cow;

#[cfg(feature = "http")]
use serde_json::Value;

#[cfg(feature = "http")]
use request::messages_body;
#[cfg(feature = "http")]
pub(crate) use response::messages_response_parts;

#[cfg(feature = "http")]
use super::adapter::HttpAdapter;
#[cfg(feature = "http")]
use super::error::AdapterError;
#[cfg(feature = "http")]
use super::http::AuthScheme;
#[cfg(feature = "http")]
use super::wire_api::{AdapterSetup, WireApi};
#[cfg(feature = "http")]
use crate::model::{ModelError, ModelRequest, StreamPart};

/// The default base URL.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";

/// The `anthropic-version` sent unless [`Anthropic::version`] says otherwise.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The `max_tokens` sent when a request sets none (the API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
/// A [`Model`](crate::Model) served by the Anthropic Messages API: an
/// [`HttpAdapter`] over [`MessagesApi`], built with the setters all adapters
/// share plus [`version`](Anthropic::version) and
/// [`default_max_tokens`](Anthropic::default_max_tokens).
///
/// The request's `model` is sent when it is non-empty, else the model given
/// to [`new`](Anthropic::new). Usage is normalized: `input_tokens` counts
/// every prompt token, cache reads and writes included (Anthropic reports
/// those apart, and they are also kept in `cached_input_tokens` and
/// `cache_creation_input_tokens`).
///
/// ```no_run
/// use tracedeck::providers::Anthropic;
/// use tracedeck::{Model, ModelRequest};
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let claude = Anthropic::from_env("claude-haiku-4-5")?.default_max_tokens(1024);
/// let answer = claude.generate(ModelRequest::new("claude-haiku-4-5").user("Hi!")).await?;
/// # Ok(()) }
/// ```
pub type Anthropic = HttpAdapter<MessagesApi>;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
/// The Messages wire format: the API an [`Anthropic`] adapter speaks. It
/// holds the settings this API adds: the `anthropic-version` header and the
/// `max_tokens` sent when a request sets none.
#[derive(Debug, Clone)]
pub struct MessagesApi {
    version: String,
    default_max_tokens: u32,
}

#[cfg(feature = "http")]
impl Default for MessagesApi {
    fn default() -> Self {
        Self {
            version: ANTHROPIC_VERSION.to_owned(),
            default_max_tokens: DEFAULT_MAX_TOKENS,
        }
    }
}

#[cfg(feature = "http")]
impl WireApi for MessagesApi {
    const SETUP: AdapterSetup = AdapterSetup {
        adapter: "Anthropic",
        provider: "anthropic",
        base_url: ANTHROPIC_BASE_URL,
        auth: AuthScheme::Header("x-api-key"),
        key_variable: "ANTHROPIC_API_KEY",
        base_url_variable: "ANTHROPIC_BASE_URL",
    };
    type StreamDecoder = MessagesStreamDecoder;

    /// `/v1/messages`, whatever the request.
    fn path(&self, _req: &ModelRequest, _model: &str, _stream: bool) -> Cow<'static, str> {
        Cow::Borrowed("/v1/messages")
    }

    fn body(&self, req: &ModelRequest, model: &str, stream: bool) -> Result<Value, AdapterError> {
        messages_body(req, model, self.default_max_tokens, stream)
    }

    fn headers(&self) -> Vec<(&'static str, &str)> {
        vec![("anthropic-version", self.version.as_str())]
    }

    fn response_parts(provider: &str, body: &Value) -> Result<Vec<StreamPart>, ModelError> {
        messages_response_parts(provider, body)
    }

    fn stream_decoder(provider: String) -> MessagesStreamDecoder {
        MessagesStreamDecoder::new(provider)
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl Anthropic {
    /// Sends `version` as the `anthropic-version` header (default
    /// [`ANTHROPIC_VERSION`]). Beta features go in a `.header("anthropic-beta", ..)`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.wire.version = version.into();
        self
    }

    /// Sends `max_tokens` as the limit when a request sets none (default
    /// [`DEFAULT_MAX_TOKENS`]).
    pub fn default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.wire.default_max_tokens = max_tokens;
        self
    }
}
