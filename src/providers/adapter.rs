//! [`HttpAdapter`]: a [`Model`] served over HTTP by one provider API. The
//! three adapters are this one type over their wire APIs: [`OpenAi`] over
//! Chat Completions, [`OpenAiResponses`] over the Responses API and
//! [`Anthropic`] over Messages.
//!
//! [`OpenAi`]: super::OpenAi
//! [`OpenAiResponses`]: super::OpenAiResponses
//! [`Anthropic`]: super::Anthropic

use std::fmt;

use futures::future::BoxFuture;

use super::error::AdapterError;
use super::http::{Endpoint, HttpCall};
use super::secret::ApiKey;
use super::wire_api::WireApi;
use crate::model::{
    Model, ModelError, ModelInfo, ModelRequest, ModelResponse, PartStream, ResponseAccumulator,
    StreamPart,
};

/// A [`Model`] served over HTTP by the provider API `W`.
///
/// Use it by its API's name: [`OpenAi`](super::OpenAi),
/// [`OpenAiResponses`](super::OpenAiResponses) or
/// [`Anthropic`](super::Anthropic). What they share is here: the default
/// model, the endpoint (base URL, key, extra headers, HTTP client) and the
/// [`Model`] implementation. The request's `model` is sent when it is
/// non-empty, else the adapter's default model. Cloning is cheap and shares
/// the HTTP client and its connection pool.
#[derive(Clone)]
pub struct HttpAdapter<W> {
    model: String,
    /// The provider named in [`ModelInfo`], recordings and errors.
    pub(super) provider: String,
    endpoint: Endpoint,
    /// The settings the API adds to the shared ones.
    pub(super) wire: W,
}

impl<W: WireApi> HttpAdapter<W> {
    /// An adapter for `model` at its API's default base URL
    /// ([`OPENAI_BASE_URL`](super::openai_chat::OPENAI_BASE_URL) for OpenAI's
    /// APIs, [`ANTHROPIC_BASE_URL`](super::anthropic::ANTHROPIC_BASE_URL) for
    /// Anthropic's), with no key yet.
    pub fn new(model: impl Into<String>) -> Self {
        let setup = W::SETUP;
        Self {
            model: model.into(),
            provider: setup.provider.to_owned(),
            endpoint: Endpoint::new(setup.adapter, setup.base_url, setup.auth),
            wire: W::default(),
        }
    }

    /// An adapter for `model` with the key in its API's environment variable
    /// (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`), at the base URL in
    /// `OPENAI_BASE_URL` / `ANTHROPIC_BASE_URL` when that is set.
    ///
    /// A missing key is not an error here: replaying cassettes needs no
    /// credentials, so a [`CassetteModel`](crate::CassetteModel) in `Replay`
    /// mode in front of this adapter works on a machine with no keys (CI).
    /// The first call that would go to the network fails instead, with
    /// [`AdapterError::MissingApiKey`] (as [`ModelError::Config`]) naming the
    /// variable to set. Setting a key later with [`api_key`](HttpAdapter::api_key)
    /// lifts that.
    ///
    /// # Errors
    /// [`AdapterError::InvalidBaseUrl`] when the base URL variable is set to
    /// something that is not an absolute `http`/`https` URL.
    pub fn from_env(model: impl Into<String>) -> Result<Self, AdapterError> {
        Self::from_lookup(model, env_lookup)
    }

    /// [`from_env`](HttpAdapter::from_env), reading variables through `lookup`.
    pub(crate) fn from_lookup(
        model: impl Into<String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, AdapterError> {
        let setup = W::SETUP;
        let mut adapter = match lookup(setup.key_variable) {
            Some(key) => Self::new(model).api_key(key),
            None => {
                let mut adapter = Self::new(model);
                adapter.endpoint.missing_key = Some(setup.key_variable);
                adapter
            }
        };
        if let Some(url) = lookup(setup.base_url_variable) {
            adapter = adapter.base_url(url);
            adapter.endpoint.check_base_url()?;
        }
        Ok(adapter)
    }

    /// Sends `key` with every call (on the wire only; it never appears in
    /// requests, recordings, errors or `Debug` output).
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.endpoint.api_key = Some(key.into());
        self.endpoint.missing_key = None;
        self
    }

    /// Sends calls to `url` (scheme, host and path prefix) instead of the
    /// provider's own API, e.g. a proxy, a gateway or a local server. A
    /// URL that is not absolute `http`/`https` fails each call with
    /// [`AdapterError::InvalidBaseUrl`].
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint.base_url = url.into();
        self
    }

    /// Sends the header `name: value` with every call (values are kept out
    /// of `Debug` output, as they are often credentials). An invalid
    /// header fails each call with [`AdapterError::InvalidHeader`].
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

    /// The default model id.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The model a call for `req` asks for: the request's, else the default.
    fn model_for(&self, req: &ModelRequest) -> String {
        if req.model.is_empty() {
            self.model.clone()
        } else {
            req.model.clone()
        }
    }

    /// The call answering `req`, ready to send, and the model it asks for.
    /// A request the API cannot express fails here, before anything is sent.
    /// A request nested past [`MAX_JSON_DEPTH`](crate::json::MAX_JSON_DEPTH)
    /// is refused too: copying and encoding it would recurse that deep.
    fn call(&self, req: &ModelRequest, stream: bool) -> Result<(String, HttpCall), ModelError> {
        if crate::json::canonical::request_too_deep(req) {
            return Err(ModelError::Config {
                message: format!(
                    "{}: the request nests JSON deeper than {} levels (in `extra`, tool \
                     parameters, tool-call arguments or the response schema); no provider \
                     accepts that, and encoding it could overflow the stack",
                    W::SETUP.adapter,
                    crate::json::MAX_JSON_DEPTH,
                ),
            });
        }
        let model = self.model_for(req);
        let body = self.wire.body(req, &model, stream)?;
        let path = self.wire.path(req, &model, stream);
        let call = self
            .endpoint
            .post(&self.provider, &path, &self.wire.headers(), &body)?;
        Ok((model, call))
    }
}

impl<W: WireApi> Model for HttpAdapter<W> {
    fn info(&self) -> ModelInfo {
        ModelInfo::new(&self.provider, &self.model)
    }

    /// Always: every call goes to the network.
    fn is_live(&self) -> bool {
        true
    }

    fn generate(&self, req: ModelRequest) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        let call = self.call(&req, false);
        let provider = self.provider.clone();
        Box::pin(async move {
            let (model, call) = call?;
            let parts = call
                .json_parts(|body| W::response_parts(&provider, body))
                .await?;
            Ok(fold_parts(ModelInfo::new(provider, model), &parts))
        })
    }

    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        let call = self.call(&req, true);
        let decoder = W::stream_decoder(self.provider.clone());
        Box::pin(async move { call?.1.stream(decoder).await })
    }
}

impl<W: WireApi> fmt::Debug for HttpAdapter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Named after the API's adapter (`OpenAi { .. }`); the endpoint shows
        // no key and no header values.
        f.debug_struct(W::SETUP.adapter)
            .field("model", &self.model)
            .field("provider", &self.provider)
            .field("endpoint", &self.endpoint)
            .field("wire", &self.wire)
            .finish()
    }
}

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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde_json::{Value, json};

    use super::super::openai_chat::{ChatCompletionsApi, ChatStreamDecoder};
    use super::super::{Anthropic, OpenAi};
    use super::*;

    /// An API that names the model in the path, as Gemini does.
    #[derive(Debug, Clone, Default)]
    struct ModelInPathApi;

    impl WireApi for ModelInPathApi {
        const SETUP: super::super::wire_api::AdapterSetup = ChatCompletionsApi::SETUP;
        type StreamDecoder = ChatStreamDecoder;

        fn path(&self, _req: &ModelRequest, model: &str, stream: bool) -> Cow<'static, str> {
            let method = if stream {
                "streamGenerateContent"
            } else {
                "generateContent"
            };
            Cow::Owned(format!("/models/{model}:{method}"))
        }

        fn body(&self, _: &ModelRequest, _: &str, _: bool) -> Result<Value, AdapterError> {
            Ok(json!({}))
        }

        fn response_parts(provider: &str, body: &Value) -> Result<Vec<StreamPart>, ModelError> {
            ChatCompletionsApi::response_parts(provider, body)
        }

        fn stream_decoder(provider: String) -> ChatStreamDecoder {
            ChatStreamDecoder::new(provider)
        }
    }

    #[test]
    fn the_path_is_built_from_the_request_and_the_model_it_asks_for() {
        let adapter = HttpAdapter::<ModelInPathApi>::new("default-model")
            .base_url("https://example.test/v1beta");
        let url = |req: &ModelRequest, stream: bool| {
            let (_, call) = adapter.call(req, stream).unwrap();
            call.url().unwrap().to_string()
        };
        assert_eq!(
            url(&ModelRequest::new("gemini-x"), true),
            "https://example.test/v1beta/models/gemini-x:streamGenerateContent"
        );
        assert_eq!(
            url(&ModelRequest::new(""), false),
            "https://example.test/v1beta/models/default-model:generateContent"
        );
        // The three APIs: one path whatever the request.
        let (_, call) = OpenAi::new("m")
            .call(&ModelRequest::new("x"), true)
            .unwrap();
        assert_eq!(
            call.url().unwrap().as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
    }

    #[test]
    fn from_env_defers_a_missing_key_to_the_first_call_and_takes_the_base_url() {
        // No key: the adapter is built; the first call names the variable.
        let keyless = OpenAi::from_lookup("m", |_| None).unwrap();
        let err = keyless.call(&ModelRequest::new("x"), true).err().unwrap();
        assert_eq!(
            err,
            ModelError::from(AdapterError::MissingApiKey {
                adapter: "OpenAi",
                variable: "OPENAI_API_KEY"
            })
        );
        assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
        // A key set afterwards lifts it.
        assert!(
            keyless
                .api_key("sk-x")
                .call(&ModelRequest::new("x"), true)
                .is_ok()
        );
        let adapter = OpenAi::from_lookup("m", |name| match name {
            "OPENAI_API_KEY" => Some("sk-x".into()),
            "OPENAI_BASE_URL" => Some("http://127.0.0.1:1/v1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(adapter.endpoint.base_url, "http://127.0.0.1:1/v1");
        assert!(adapter.endpoint.api_key.is_some());
        // A base URL variable that is no URL is the one thing it refuses.
        let err = OpenAi::from_lookup("m", |name| {
            (name == "OPENAI_BASE_URL").then(|| "ftp://x".to_owned())
        })
        .unwrap_err();
        assert!(matches!(err, AdapterError::InvalidBaseUrl { .. }), "{err}");
    }

    #[test]
    fn the_requests_model_wins_over_the_default() {
        let adapter = OpenAi::new("default-model");
        assert_eq!(adapter.model_for(&ModelRequest::new("")), "default-model");
        assert_eq!(adapter.model_for(&ModelRequest::new("other")), "other");
    }

    #[test]
    fn each_api_reads_its_own_variables_and_names_its_own_adapter() {
        let keyless = Anthropic::from_lookup("m", |name| match name {
            "OPENAI_API_KEY" => Some("sk-x".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            keyless.call(&ModelRequest::new("x"), false).err().unwrap(),
            ModelError::from(AdapterError::MissingApiKey {
                adapter: "Anthropic",
                variable: "ANTHROPIC_API_KEY"
            })
        );
        let adapter = Anthropic::from_lookup("m", |name| match name {
            "ANTHROPIC_API_KEY" => Some("sk-ant-x".into()),
            "ANTHROPIC_BASE_URL" => Some("http://127.0.0.1:2".into()),
            "OPENAI_BASE_URL" => Some("http://127.0.0.1:1/v1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(adapter.endpoint.base_url, "http://127.0.0.1:2");
        assert_eq!(adapter.info(), ModelInfo::new("anthropic", "m"));
        assert!(format!("{adapter:?}").starts_with("Anthropic {"));
    }
}
