//! The OpenAI Responses API (`POST {base}/responses`).

mod encode;
mod mapping;
#[cfg(feature = "http")]
mod request;
mod request_decode;
#[cfg(feature = "http")]
mod response;
mod stream;
mod tool_item;

pub use request_decode::{ResponsesRequest, decode_responses_request};
pub use stream::ResponsesStreamDecoder;

#[cfg(feature = "async-openai")]
pub(crate) use encode::responses_response_body_complete;
pub(crate) use encode::{ResponsesEncoder, responses_response_body};

#[cfg(feature = "http")]
use std::borrow::Cow;

#[cfg(feature = "http")]
use serde_json::Value;

#[cfg(feature = "http")]
use request::responses_body;
#[cfg(feature = "http")]
pub(crate) use response::responses_response_parts;

#[cfg(feature = "http")]
use super::adapter::HttpAdapter;
#[cfg(feature = "http")]
use super::error::AdapterError;
#[cfg(feature = "http")]
use super::openai_chat::ChatCompletionsApi;
#[cfg(feature = "http")]
use super::wire_api::{AdapterSetup, WireApi};
#[cfg(feature = "http")]
use crate::model::{ModelError, ModelRequest, StreamPart};

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
/// A [`Model`](crate::Model) served by the OpenAI Responses API at
/// [`OPENAI_BASE_URL`](super::openai_chat::OPENAI_BASE_URL): an
/// [`HttpAdapter`] over [`ResponsesApi`], built with the setters all
/// adapters share.
///
/// The request's `model` is sent when it is non-empty, else the model given
/// to [`new`](OpenAiResponses::new). Reasoning summaries stream as reasoning
/// deltas; a completed response that called tools finishes with
/// [`FinishKind::ToolCalls`](crate::model::FinishKind::ToolCalls) and raw string
/// `completed` (an `incomplete` response keeps its reason, e.g.
/// `max_output_tokens`, as the raw string). `seed` and stop sequences, which
/// this API lacks, are rejected before sending. Server-side storage follows the API's default; send
/// `.extra("store", json!(false))` on a request to turn it off.
///
/// ```no_run
/// use tracedeck::providers::OpenAiResponses;
/// use tracedeck::{Model, ModelRequest};
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let openai = OpenAiResponses::from_env("gpt-5-mini")?;
/// let req = ModelRequest::new("gpt-5-mini")
///     .user("Why is the sky blue?")
///     .extra("reasoning", serde_json::json!({"effort": "low", "summary": "auto"}));
/// let answer = openai.generate(req).await?;
/// # Ok(()) }
/// ```
pub type OpenAiResponses = HttpAdapter<ResponsesApi>;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
/// The Responses API wire format: the API an [`OpenAiResponses`] adapter
/// speaks. It adds no settings of its own.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct ResponsesApi;

#[cfg(feature = "http")]
impl WireApi for ResponsesApi {
    /// Reached like Chat Completions: same host, key and variables.
    const SETUP: AdapterSetup = AdapterSetup {
        adapter: "OpenAiResponses",
        ..ChatCompletionsApi::SETUP
    };
    type StreamDecoder = ResponsesStreamDecoder;

    /// `/responses`, whatever the request.
    fn path(&self, _req: &ModelRequest, _model: &str, _stream: bool) -> Cow<'static, str> {
        Cow::Borrowed("/responses")
    }

    fn body(&self, req: &ModelRequest, model: &str, stream: bool) -> Result<Value, AdapterError> {
        responses_body(req, model, stream)
    }

    fn response_parts(provider: &str, body: &Value) -> Result<Vec<StreamPart>, ModelError> {
        responses_response_parts(provider, body)
    }

    fn stream_decoder(provider: String) -> ResponsesStreamDecoder {
        ResponsesStreamDecoder::new(provider)
    }
}
