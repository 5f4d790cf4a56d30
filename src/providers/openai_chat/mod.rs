//! OpenAI Chat Completions (`POST {base}/chat/completions`): OpenAI itself,
//! Azure's v1 endpoint and the many OpenAI-compatible servers (vLLM,
//! llama.cpp, Ollama, OpenRouter, Groq, ...), reached through
//! [`OpenAi::base_url`].

mod encode;
mod mapping;
#[cfg(feature = "http")]
mod request;
mod request_decode;
#[cfg(feature = "http")]
mod response;
mod stream;

pub use request_decode::{ChatRequest, RequestDecodeError, decode_chat_request};
pub(crate) use request_decode::{
    image_source, invalid, json_object, json_schema_format, model_and_stream, unsupported,
};
pub use stream::ChatStreamDecoder;

pub(crate) use encode::{ChatEncoder, arguments_text, chat_response_body};

#[cfg(feature = "http")]
use std::borrow::Cow;

#[cfg(feature = "http")]
use serde_json::Value;

#[cfg(feature = "http")]
use request::{MaxTokensField, chat_body};
#[cfg(feature = "http")]
pub(crate) use response::chat_response_parts;

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
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
/// A [`Model`](crate::Model) served by the OpenAI Chat Completions API or
/// any server that speaks it: an [`HttpAdapter`] over [`ChatCompletionsApi`],
/// built with the setters all adapters share plus
/// [`provider_name`](OpenAi::provider_name) and
/// [`legacy_max_tokens`](OpenAi::legacy_max_tokens).
///
/// The request's `model` is sent when it is non-empty, else the model given
/// to [`new`](OpenAi::new). Streams ask for usage (`stream_options.include_usage`),
/// so the final [`Finish`](crate::StreamPart::Finish) carries token counts.
/// Tool results go out as `tool` messages (a tool result's `is_error` has no
/// field in this format and is not sent); only choice 0 of a response is read.
///
/// ```no_run
/// use tracedeck::providers::OpenAi;
/// use tracedeck::{Model, ModelRequest};
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// // OPENAI_API_KEY from the environment (needed once a call goes live):
/// let openai = OpenAi::from_env("gpt-4o-mini")?;
/// let answer = openai.generate(ModelRequest::new("gpt-4o-mini").user("Hi!")).await?;
///
/// // A local OpenAI-compatible server, no key:
/// let local = OpenAi::new("llama3.2")
///     .base_url("http://127.0.0.1:11434/v1")
///     .provider_name("ollama");
/// # Ok(()) }
/// ```
pub type OpenAi = HttpAdapter<ChatCompletionsApi>;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
/// The Chat Completions wire format: the API an [`OpenAi`] adapter speaks.
/// It holds the one setting this API adds, which field carries the token
/// limit ([`OpenAi::legacy_max_tokens`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ChatCompletionsApi {
    max_tokens_field: MaxTokensField,
}

#[cfg(feature = "http")]
impl WireApi for ChatCompletionsApi {
    const SETUP: AdapterSetup = AdapterSetup {
        adapter: "OpenAi",
        provider: "openai",
        base_url: OPENAI_BASE_URL,
        auth: AuthScheme::Bearer,
        key_variable: "OPENAI_API_KEY",
        base_url_variable: "OPENAI_BASE_URL",
    };
    type StreamDecoder = ChatStreamDecoder;

    /// `/chat/completions`, whatever the request.
    fn path(&self, _req: &ModelRequest, _model: &str, _stream: bool) -> Cow<'static, str> {
        Cow::Borrowed("/chat/completions")
    }

    fn body(&self, req: &ModelRequest, model: &str, stream: bool) -> Result<Value, AdapterError> {
        chat_body(req, model, self.max_tokens_field, stream)
    }

    fn response_parts(provider: &str, body: &Value) -> Result<Vec<StreamPart>, ModelError> {
        chat_response_parts(provider, body)
    }

    fn stream_decoder(provider: String) -> ChatStreamDecoder {
        ChatStreamDecoder::new(provider)
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl OpenAi {
    /// Names the provider in [`ModelInfo`](crate::model::ModelInfo), recordings and
    /// errors (default `openai`), e.g. `ollama` for a local server.
    pub fn provider_name(mut self, name: impl Into<String>) -> Self {
        self.provider = name.into();
        self
    }

    /// Sends the token limit as `max_tokens`, for servers that predate
    /// OpenAI's `max_completion_tokens` (the default).
    pub fn legacy_max_tokens(mut self) -> Self {
        self.wire.max_tokens_field = MaxTokensField::MaxTokens;
        self
    }
}
