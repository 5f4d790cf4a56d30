//! [async-openai](https://docs.rs/async-openai) over a tracedeck
//! [`Model`]: [`client`] gives an `async_openai::Client` whose chat
//! completions (`client.chat().create(..)` and `create_stream(..)`) are
//! served in process by the model you give it, through async-openai's tower
//! seam (`Client::with_http_service`, its `middleware` feature). Put a
//! [`Recorder`](crate::Recorder) around a live model to record an existing
//! async-openai program; give it a [`Player`](crate::Player) or a
//! [`CassetteModel`](crate::CassetteModel) in Replay mode to replay it with
//! no server and no network at all.
//!
//! ```
//! use std::sync::Arc;
//! use async_openai::types::chat::CreateChatCompletionRequestArgs;
//! use tracedeck::context::with_span_result;
//! use tracedeck::{Collector, Recorder, Script, ScriptedModel};
//!
//! # // This workspace's dev-dependencies enable reqwest 0.13's rustls with no
//! # // default crypto provider (for object_store's S3 test): pick one.
//! # let _ = rustls::crypto::ring::default_provider().install_default();
//! # tracedeck::testing::run_paused(async {
//! let traces = Collector::new();
//! let model = Recorder::new(ScriptedModel::new(Script::text("Paris")), traces.clone());
//! let client = tracedeck::adapters::async_openai::client(Arc::new(model));
//!
//! let request = CreateChatCompletionRequestArgs::default()
//!     .model("gpt-4o-mini")
//!     .messages(vec![async_openai::types::chat::ChatCompletionRequestUserMessage::from(
//!         "Capital of France?",
//!     )
//!     .into()])
//!     .build()
//!     .unwrap();
//! // `with_span_result`: async-openai's errors do not serialize.
//! let answer = with_span_result("qa", "Capital of France?", client.chat().create(request))
//!     .await
//!     .unwrap();
//! assert_eq!(answer.choices[0].message.content.as_deref(), Some("Paris"));
//! assert_eq!(traces.traces_for("qa")[0].spans.len(), 2, "the turn and its model call");
//! # });
//! ```
//!
//! # How a call goes through
//!
//! 1. async-openai builds the HTTP request and hands it to the tower service
//!    ([`TracedeckService`]), awaiting its future inline: in the *caller's*
//!    task. The service reads the JSON body back into a [`ModelRequest`]
//!    ([`decode_chat_request`]: the inverse of the
//!    [`OpenAi`](crate::providers::OpenAi) adapter's mapping) and calls the
//!    model right there, so the call's parent is the caller's current span
//!    (contract 1), whichever task or client instance is shared, and its t0
//!    is the instant async-openai sent the request.
//! 2. A non-streamed call's [`ModelResponse`](crate::ModelResponse) is
//!    encoded as the `chat.completion` JSON
//!    ([`WireProtocol::encode_response`]); an error as the provider's error
//!    response ([`WireProtocol::encode_error`]: status, body, `Retry-After`),
//!    which async-openai reports as its `ApiError`.
//! 3. A stream is answered at once with an SSE body that encodes each part
//!    the moment the model yields it (the Chat Completions encoder of
//!    [`codec`](crate::providers::codec), part by part): no buffering, so
//!    replayed parts reach the caller at their recorded offsets. `[DONE]` is
//!    sent once the model's stream has ended, so a recorder sees the stream
//!    finish before async-openai stops reading; an error mid-stream is the
//!    protocol's error event, a transport error a broken body.
//!
//! The request path must end in `/chat/completions` (async-openai's other
//! APIs, the Responses API included, are answered with a 404 error body:
//! only chat completions are served). A body the model boundary cannot hold
//! (an audio part, a message `name`) is a 400 error naming the field.
//! Headers, and so the API key async-openai sends, are never read.

use std::sync::Arc;
use std::task::{Context, Poll};

use ::async_openai::Client;
use ::async_openai::config::OpenAIConfig;
use ::async_openai::error::OpenAIError;
use ::async_openai::middleware::HttpRequestFactory;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};

use crate::model::{Model, ModelError, ModelRequest, PartStream, StreamPart};
use crate::providers::codec::{
    EncodedStream, PartEncoder, SseWriter, StreamEnd, StreamError, WireProtocol, WireResponse,
};
use crate::providers::openai_chat::{ChatEncoder, decode_chat_request};

/// The base URL the client's requests name. Nothing listens there: the
/// service answers every request in process.
pub const BASE_URL: &str = "http://tracedeck.invalid/v1";

/// The provider named in the errors the service itself answers with.
const PROVIDER: &str = "tracedeck";

/// An `async_openai::Client` served by `model`: its chat completions,
/// streamed or not, are calls to `model` made in the caller's task. See the
/// [module docs](self).
///
/// The client's API key is a placeholder (nothing is sent anywhere); use
/// [`with_config`] to keep your own configuration.
pub fn client(model: Arc<dyn Model>) -> Client<OpenAIConfig> {
    with_config(
        model,
        OpenAIConfig::new()
            .with_api_base(BASE_URL)
            .with_api_key("tracedeck"),
    )
}

/// Like [`client`], with your own async-openai configuration (its base URL
/// and headers are not used: the model answers every call).
pub fn with_config(model: Arc<dyn Model>, config: OpenAIConfig) -> Client<OpenAIConfig> {
    Client::with_config(config).with_http_service(TracedeckService::new(model))
}

/// The tower service behind [`client`]: it answers async-openai's chat
/// completion requests with a tracedeck [`Model`]. Install it yourself with
/// `Client::with_http_service`, under any tower layers you like.
#[derive(Clone)]
pub struct TracedeckService {
    model: Arc<dyn Model>,
}

impl std::fmt::Debug for TracedeckService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedeckService")
            .field("model", &self.model.info())
            .finish()
    }
}

impl TracedeckService {
    /// A service answering with `model`.
    pub fn new(model: Arc<dyn Model>) -> Self {
        Self { model }
    }
}

impl tower_service::Service<HttpRequestFactory> for TracedeckService {
    type Response = reqwest013::Response;
    type Error = OpenAIError;
    type Future = BoxFuture<'static, Result<reqwest013::Response, OpenAIError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), OpenAIError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let model = self.model.clone();
        Box::pin(async move {
            let request = factory.build().await?;
            Ok(answer(model.as_ref(), &request).await)
        })
    }
}

/// The response to one request: the model's answer, or an error response.
async fn answer(model: &dyn Model, request: &reqwest013::Request) -> reqwest013::Response {
    if *request.method() != http::Method::POST
        || !request.url().path().ends_with("/chat/completions")
    {
        return error_response(
            404,
            format!(
                "tracedeck's async-openai client serves chat completions only \
             (POST .../chat/completions), not `{} {}`",
                request.method(),
                request.url().path()
            ),
        );
    }
    let Some(body) = request.body().and_then(|b| b.as_bytes()) else {
        return error_response(400, "the request has no JSON body".to_owned());
    };
    let chat = match decode_chat_request(body) {
        Ok(chat) => chat,
        Err(error) => return error_response(400, error.to_string()),
    };
    if chat.stream {
        stream(model, chat.request).await
    } else {
        match model.generate(chat.request).await {
            Ok(response) => json_response(WireProtocol::ChatCompletions.encode_response(&response)),
            Err(error) => json_response(WireProtocol::ChatCompletions.encode_error(&error)),
        }
    }
}

async fn stream(model: &dyn Model, request: ModelRequest) -> reqwest013::Response {
    match model.stream(request).await {
        Ok(parts) => {
            let body = reqwest013::Body::wrap_stream(sse_body(parts));
            let mut response = http::Response::new(body);
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(EncodedStream::CONTENT_TYPE),
            );
            response.into()
        }
        Err(error) => json_response(WireProtocol::ChatCompletions.encode_error(&error)),
    }
}

/// An error the service answers itself (a path it does not serve, a body it
/// cannot read), as the provider's error response.
fn error_response(status: u16, message: String) -> reqwest013::Response {
    json_response(
        WireProtocol::ChatCompletions.encode_error(&ModelError::Http {
            provider: PROVIDER.to_owned(),
            status,
            message,
            retry_after_ms: None,
        }),
    )
}

fn json_response(wire: WireResponse) -> reqwest013::Response {
    let mut response = http::Response::new(reqwest013::Body::from(wire.body));
    *response.status_mut() =
        http::StatusCode::from_u16(wire.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(WireResponse::CONTENT_TYPE),
    );
    for (name, value) in wire.headers {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response.into()
}

/// Why a served stream broke off: the model's stream ended in a transport
/// error, which no byte of the protocol can carry.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BrokenStream(ModelError);

/// The SSE body of a model's stream, part by part as the model yields them:
/// each part's events are sent the moment it arrives (a part with no event,
/// such as a block start, sends nothing), then the end marker once the
/// stream has ended, or the error it ended in.
fn sse_body(parts: PartStream) -> impl Stream<Item = Result<Bytes, BrokenStream>> + Send {
    // `[DONE]` is deferred to the stream's end: the encoder is told the
    // stream may still fail, so a finish sends no end marker of its own.
    let state = Some((parts, ChatEncoder::new(true)));
    futures::stream::unfold(state, |state| async move {
        let (mut parts, mut encoder) = state?;
        loop {
            let mut out = SseWriter::default();
            match parts.next().await {
                Some(Ok(part)) => {
                    let bytes = encode_part(&mut encoder, part, out);
                    if !bytes.is_empty() {
                        return Some((Ok(bytes), Some((parts, encoder))));
                    }
                }
                Some(Err(error)) => {
                    drop(parts);
                    let end = encoder.end(Some(&StreamError::of(&error)), &mut out);
                    let bytes = Bytes::from(out.into_stream(0, end).body());
                    return Some(match end {
                        StreamEnd::Break => (Err(BrokenStream(error)), None),
                        _ => (Ok(bytes), None),
                    });
                }
                None => {
                    let end = encoder.end(None, &mut out);
                    return Some((Ok(Bytes::from(out.into_stream(0, end).body())), None));
                }
            }
        }
    })
}

fn encode_part(encoder: &mut ChatEncoder, part: StreamPart, mut out: SseWriter) -> Bytes {
    encoder.part(std::slice::from_ref(&part), 0, &mut out);
    Bytes::from(out.into_stream(0, StreamEnd::Close).body())
}
