//! Anthropic Messages (`POST {base}/v1/messages`, with the
//! `anthropic-version` header).

mod finish;
mod request;
mod response;
mod stream;
mod usage;

pub use stream::MessagesStreamDecoder;

use futures::future::BoxFuture;

use request::messages_body;
use response::messages_response_parts;

use super::error::AdapterError;
use super::http::{AuthScheme, Endpoint, HttpCall};
use super::{env_lookup, fold_parts};
use crate::model::{Model, ModelError, ModelInfo, ModelRequest, ModelResponse, PartStream};

/// The default base URL.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";

/// The `anthropic-version` sent unless [`Anthropic::version`] says otherwise.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The `max_tokens` sent when a request sets none (the API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

const PROVIDER: &str = "anthropic";

/// A [`Model`] served by the Anthropic Messages API.
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
#[derive(Clone, Debug)]
pub struct Anthropic {
    model: String,
    endpoint: Endpoint,
    version: String,
    default_max_tokens: u32,
}

impl Anthropic {
    /// An adapter for `model` at [`ANTHROPIC_BASE_URL`], with no key yet.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            endpoint: Endpoint::new(
                "Anthropic",
                ANTHROPIC_BASE_URL,
                AuthScheme::Header("x-api-key"),
            ),
            version: ANTHROPIC_VERSION.to_owned(),
            default_max_tokens: DEFAULT_MAX_TOKENS,
        }
    }

    /// An adapter for `model` with the key in `ANTHROPIC_API_KEY`, at
    /// `ANTHROPIC_BASE_URL` when that is set.
    pub fn from_env(model: impl Into<String>) -> Result<Self, AdapterError> {
        let key = env_lookup("ANTHROPIC_API_KEY").ok_or(AdapterError::MissingApiKey {
            adapter: "Anthropic",
            variable: "ANTHROPIC_API_KEY",
        })?;
        let mut adapter = Self::new(model).api_key(key);
        if let Some(url) = env_lookup("ANTHROPIC_BASE_URL") {
            adapter = adapter.base_url(url);
        }
        Ok(adapter)
    }

    super::endpoint_builders!();

    /// Sends `version` as the `anthropic-version` header (default
    /// [`ANTHROPIC_VERSION`]). Beta features go in a `.header("anthropic-beta", ..)`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sends `max_tokens` as the limit when a request sets none (default
    /// [`DEFAULT_MAX_TOKENS`]).
    pub fn default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.default_max_tokens = max_tokens;
        self
    }

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
        let body = messages_body(req, &model, self.default_max_tokens, stream)?;
        let headers = [("anthropic-version", self.version.as_str())];
        let call = self
            .endpoint
            .post(PROVIDER, "/v1/messages", &headers, &body)?;
        Ok((model, call))
    }
}

impl Model for Anthropic {
    fn info(&self) -> ModelInfo {
        ModelInfo::new(PROVIDER, &self.model)
    }

    fn generate(&self, req: ModelRequest) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        let call = self.call(&req, false);
        Box::pin(async move {
            let (model, call) = call?;
            let parts = call
                .json_then(|body| messages_response_parts(PROVIDER, body))
                .await?;
            Ok(fold_parts(ModelInfo::new(PROVIDER, model), &parts))
        })
    }

    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        let call = self.call(&req, true);
        Box::pin(async move {
            let (_, call) = call?;
            call.stream(MessagesStreamDecoder::new(PROVIDER)).await
        })
    }
}
