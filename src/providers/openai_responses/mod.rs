//! The OpenAI Responses API (`POST {base}/responses`).

mod finish;
mod request;
mod response;
mod stream;
mod usage;

pub use stream::ResponsesStreamDecoder;

use futures::future::BoxFuture;

use request::responses_body;
use response::responses_response_parts;

use super::error::AdapterError;
use super::http::{AuthScheme, Endpoint, HttpCall};
use super::openai_chat::OPENAI_BASE_URL;
use super::{env_lookup, fold_parts};
use crate::model::{Model, ModelError, ModelInfo, ModelRequest, ModelResponse, PartStream};

/// A [`Model`] served by the OpenAI Responses API.
///
/// The request's `model` is sent when it is non-empty, else the model given
/// to [`new`](OpenAiResponses::new). Reasoning summaries stream as reasoning
/// deltas; a completed response that called tools finishes with
/// [`FinishKind::ToolCalls`](crate::FinishKind::ToolCalls) and raw string
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
#[derive(Clone, Debug)]
pub struct OpenAiResponses {
    model: String,
    endpoint: Endpoint,
}

const PROVIDER: &str = "openai";

impl OpenAiResponses {
    /// An adapter for `model` at [`OPENAI_BASE_URL`], with no key yet.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            endpoint: Endpoint::new("OpenAiResponses", OPENAI_BASE_URL, AuthScheme::Bearer),
        }
    }

    /// An adapter for `model` with the key in `OPENAI_API_KEY`, at
    /// `OPENAI_BASE_URL` when that is set.
    pub fn from_env(model: impl Into<String>) -> Result<Self, AdapterError> {
        let key = env_lookup("OPENAI_API_KEY").ok_or(AdapterError::MissingApiKey {
            adapter: "OpenAiResponses",
            variable: "OPENAI_API_KEY",
        })?;
        let mut adapter = Self::new(model).api_key(key);
        if let Some(url) = env_lookup("OPENAI_BASE_URL") {
            adapter = adapter.base_url(url);
        }
        Ok(adapter)
    }

    super::endpoint_builders!();

    /// The default model id.
    pub fn model(&self) -> &str {
        &self.model
    }

    fn call(&self, req: &ModelRequest, stream: bool) -> Result<(String, HttpCall), ModelError> {
        let model = if req.model.is_empty() {
            self.model.clone()
        } else {
            req.model.clone()
        };
        let body = responses_body(req, &model, stream)?;
        let call = self.endpoint.post(PROVIDER, "/responses", &[], &body)?;
        Ok((model, call))
    }
}

impl Model for OpenAiResponses {
    fn info(&self) -> ModelInfo {
        ModelInfo::new(PROVIDER, &self.model)
    }

    fn generate(&self, req: ModelRequest) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        let call = self.call(&req, false);
        Box::pin(async move {
            let (model, call) = call?;
            let parts = call
                .json_then(|body| responses_response_parts(PROVIDER, body))
                .await?;
            Ok(fold_parts(ModelInfo::new(PROVIDER, model), &parts))
        })
    }

    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        let call = self.call(&req, true);
        Box::pin(async move {
            let (_, call) = call?;
            call.stream(ResponsesStreamDecoder::new(PROVIDER)).await
        })
    }
}
