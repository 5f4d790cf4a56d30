//! OpenAI Chat Completions (`POST {base}/chat/completions`): OpenAI itself,
//! Azure's v1 endpoint and the many OpenAI-compatible servers (vLLM,
//! llama.cpp, Ollama, OpenRouter, Groq, ...), reached through
//! [`OpenAi::base_url`].

mod finish;
mod reasoning;
mod request;
mod response;
mod stream;
mod usage;

pub use stream::ChatStreamDecoder;

pub(crate) use request::{arguments_text, image_url};

use futures::future::BoxFuture;

use request::{MaxTokensField, chat_body};
use response::chat_response_parts;

use super::error::AdapterError;
use super::http::{AuthScheme, Endpoint};
use super::{env_lookup, fold_parts};
use crate::model::{Model, ModelError, ModelInfo, ModelRequest, ModelResponse, PartStream};

/// The default base URL.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// A [`Model`] served by the OpenAI Chat Completions API or any server that
/// speaks it.
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
/// // OPENAI_API_KEY from the environment:
/// let openai = OpenAi::from_env("gpt-4o-mini")?;
/// let answer = openai.generate(ModelRequest::new("gpt-4o-mini").user("Hi!")).await?;
///
/// // A local OpenAI-compatible server, no key:
/// let local = OpenAi::new("llama3.2")
///     .base_url("http://127.0.0.1:11434/v1")
///     .provider_name("ollama");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct OpenAi {
    model: String,
    provider: String,
    endpoint: Endpoint,
    max_tokens_field: MaxTokensField,
}

impl OpenAi {
    /// An adapter for `model` at [`OPENAI_BASE_URL`], with no key yet.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            provider: "openai".into(),
            endpoint: Endpoint::new("OpenAi", OPENAI_BASE_URL, AuthScheme::Bearer),
            max_tokens_field: MaxTokensField::MaxCompletionTokens,
        }
    }

    /// An adapter for `model` with the key in `OPENAI_API_KEY`, at
    /// `OPENAI_BASE_URL` when that is set.
    pub fn from_env(model: impl Into<String>) -> Result<Self, AdapterError> {
        Self::from_lookup(model, env_lookup)
    }

    pub(crate) fn from_lookup(
        model: impl Into<String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, AdapterError> {
        let key = lookup("OPENAI_API_KEY").ok_or(AdapterError::MissingApiKey {
            adapter: "OpenAi",
            variable: "OPENAI_API_KEY",
        })?;
        let mut adapter = Self::new(model).api_key(key);
        if let Some(url) = lookup("OPENAI_BASE_URL") {
            adapter = adapter.base_url(url);
        }
        Ok(adapter)
    }

    super::endpoint_builders!();

    /// Names the provider in [`ModelInfo`], recordings and errors (default
    /// `openai`), e.g. `ollama` for a local server.
    pub fn provider_name(mut self, name: impl Into<String>) -> Self {
        self.provider = name.into();
        self
    }

    /// Sends the token limit as `max_tokens`, for servers that predate
    /// OpenAI's `max_completion_tokens` (the default).
    pub fn legacy_max_tokens(mut self) -> Self {
        self.max_tokens_field = MaxTokensField::MaxTokens;
        self
    }

    /// The default model id.
    pub fn model(&self) -> &str {
        &self.model
    }

    fn model_for(&self, req: &ModelRequest) -> String {
        if req.model.is_empty() {
            self.model.clone()
        } else {
            req.model.clone()
        }
    }

    fn call(
        &self,
        req: &ModelRequest,
        stream: bool,
    ) -> Result<(String, super::http::HttpCall), ModelError> {
        let model = self.model_for(req);
        let body = chat_body(req, &model, self.max_tokens_field, stream)?;
        let call = self
            .endpoint
            .post(&self.provider, "/chat/completions", &[], &body)?;
        Ok((model, call))
    }
}

impl Model for OpenAi {
    fn info(&self) -> ModelInfo {
        ModelInfo::new(&self.provider, &self.model)
    }

    fn generate(&self, req: ModelRequest) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        let call = self.call(&req, false);
        let provider = self.provider.clone();
        Box::pin(async move {
            let (model, call) = call?;
            let parts = call
                .json_then(|body| chat_response_parts(&provider, body))
                .await?;
            Ok(fold_parts(ModelInfo::new(provider, model), &parts))
        })
    }

    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        let call = self.call(&req, true);
        let decoder = ChatStreamDecoder::new(self.provider.clone());
        Box::pin(async move { call?.1.stream(decoder).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_env_needs_the_key_and_takes_the_base_url() {
        let err = OpenAi::from_lookup("m", |_| None).unwrap_err();
        assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
        let adapter = OpenAi::from_lookup("m", |name| match name {
            "OPENAI_API_KEY" => Some("sk-x".into()),
            "OPENAI_BASE_URL" => Some("http://127.0.0.1:1/v1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(adapter.endpoint.base_url, "http://127.0.0.1:1/v1");
        assert!(adapter.endpoint.api_key.is_some());
    }

    #[test]
    fn the_requests_model_wins_over_the_default() {
        let adapter = OpenAi::new("default-model");
        assert_eq!(adapter.model_for(&ModelRequest::new("")), "default-model");
        assert_eq!(adapter.model_for(&ModelRequest::new("other")), "other");
    }
}
