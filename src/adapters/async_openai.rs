//! [async-openai](https://docs.rs/async-openai) over a tracedeck
//! [`Model`]: [`client`] gives an `async_openai::Client` whose chat
//! completions (`client.chat().create(..)` and `create_stream(..)`) and
//! Responses API calls (`client.responses().create(..)` and
//! `create_stream(..)`) are served in process by the model you give it,
//! through async-openai's tower seam (`Client::with_http_service`, its
//! `middleware` feature). Put a [`Recorder`](crate::Recorder) around a live
//! model to record an existing async-openai program; give it a
//! [`Player`](crate::Player) or a [`CassetteModel`](crate::CassetteModel) in
//! Replay mode to replay it with no server and no network at all
//! (`examples/async_openai.rs` does both).
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
//!
//! // The Responses API, through the same client.
//! let request = async_openai::types::responses::CreateResponseArgs::default()
//!     .model("gpt-4o-mini")
//!     .input("Capital of France?")
//!     .build()
//!     .unwrap();
//! let answer = with_span_result("qa", "Capital of France?", client.responses().create(request))
//!     .await
//!     .unwrap();
//! assert_eq!(answer.output_text().as_deref(), Some("Paris"));
//! assert_eq!(traces.traces_for("qa").len(), 2);
//! # });
//! ```
//!
//! # How a call goes through
//!
//! 1. async-openai builds the HTTP request and hands it to the tower service
//!    ([`TracedeckService`]), awaiting its future inline: in the *caller's*
//!    task. The service picks the protocol by the request path (`POST
//!    .../chat/completions` or `POST .../responses`) and reads the JSON body
//!    back into a [`ModelRequest`] ([`decode_chat_request`] or
//!    [`decode_responses_request`]: the inverses of the
//!    [`OpenAi`](crate::providers::OpenAi) and
//!    [`OpenAiResponses`](crate::providers::OpenAiResponses) adapters'
//!    mappings), then calls the model right there, so the call's parent is
//!    the caller's current span (contract 1), whichever task or client
//!    instance is shared, and its t0 is the instant async-openai sent the
//!    request.
//! 2. A non-streamed call's [`ModelResponse`] is encoded as the protocol's
//!    JSON (`chat.completion` or `response`,
//!    [`WireProtocol::encode_response`]); an error as the provider's error
//!    response ([`WireProtocol::encode_error`]: status, body, `Retry-After`),
//!    which async-openai reports as its `ApiError`.
//! 3. A stream is answered at once with an SSE body that encodes each part
//!    the moment the model yields it (the protocol's encoder in
//!    [`codec`](crate::providers::codec), part by part): no buffering of
//!    content, so replayed parts reach the caller at their recorded offsets.
//!    Only framing waits for what follows it: a block start goes out with
//!    the content it opens (a Responses output item must say whether it is
//!    a message, reasoning or a tool call), and the end once the model's
//!    stream has ended (Chat Completions' `[DONE]`; the Responses final
//!    event, which is `response.failed` when an error follows), so a
//!    recorder sees the stream finish before async-openai stops reading.
//!    An error mid-stream is the protocol's error event (async-openai gives
//!    Chat Completions' as an `Err` item, the Responses `error` event as an
//!    event), a transport error a broken body.
//!
//! Other requests (the Responses API's endpoints that read a stored
//! response, embeddings, models, ...) are answered with a 404 error body
//! saying what is served. A body the model boundary cannot hold (an audio
//! part, a message `name`, a reasoning input item) is a 400 error naming
//! the field. Headers, and so the API key async-openai sends, are never
//! read. Responses usage is sent with every figure async-openai's types
//! require (a figure the model did not report as `0`); what is recorded is
//! the model's own parts, unchanged.

use std::sync::Arc;
use std::task::{Context, Poll};

use ::async_openai::Client;
use ::async_openai::config::OpenAIConfig;
use ::async_openai::error::OpenAIError;
use ::async_openai::middleware::HttpRequestFactory;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};

use crate::model::{Model, ModelError, ModelRequest, ModelResponse, PartStream, StreamPart};
use crate::providers::codec::{
    EncodedStream, PartEncoder, SseWriter, StreamEnd, StreamError, WireProtocol, WireResponse,
};
use crate::providers::openai_chat::{ChatEncoder, RequestDecodeError, decode_chat_request};
use crate::providers::openai_responses::{
    ResponsesEncoder, decode_responses_request, responses_response_body_complete,
};

/// The base URL the client's requests name. Nothing listens there: the
/// service answers every request in process.
pub const BASE_URL: &str = "http://tracedeck.invalid/v1";

/// The provider named in the errors the service itself answers with.
const PROVIDER: &str = "tracedeck";

/// An `async_openai::Client` served by `model`: its chat completions and
/// Responses API calls, streamed or not, are calls to `model` made in the
/// caller's task. See the [module docs](self).
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
/// completion and Responses API requests with a tracedeck [`Model`].
/// Install it yourself with `Client::with_http_service`, under any tower
/// layers you like.
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

/// The protocol a request speaks, by its method and path: `POST
/// .../chat/completions` or `POST .../responses` (creating a response; the
/// Responses API's other endpoints, such as `.../responses/{id}`, name a
/// response stored on a server, which there is none of).
fn protocol(request: &reqwest013::Request) -> Option<WireProtocol> {
    if *request.method() != http::Method::POST {
        return None;
    }
    let path = request.url().path();
    if path.ends_with("/chat/completions") {
        Some(WireProtocol::ChatCompletions)
    } else if path.ends_with("/responses") {
        Some(WireProtocol::Responses)
    } else {
        None
    }
}

/// A request body read as a model request, and whether it asks for a stream.
fn decode(protocol: WireProtocol, body: &[u8]) -> Result<(ModelRequest, bool), RequestDecodeError> {
    match protocol {
        WireProtocol::Responses => decode_responses_request(body).map(|r| (r.request, r.stream)),
        _ => decode_chat_request(body).map(|c| (c.request, c.stream)),
    }
}

/// The response to one request: the model's answer, or an error response.
async fn answer(model: &dyn Model, request: &reqwest013::Request) -> reqwest013::Response {
    let Some(protocol) = protocol(request) else {
        return error_response(
            WireProtocol::ChatCompletions,
            404,
            format!(
                "tracedeck's async-openai client serves chat completions \
                 (POST .../chat/completions) and creating responses \
                 (POST .../responses), not `{} {}`",
                request.method(),
                request.url().path()
            ),
        );
    };
    let Some(body) = request.body().and_then(|b| b.as_bytes()) else {
        return error_response(protocol, 400, "the request has no JSON body".to_owned());
    };
    let (request, stream) = match decode(protocol, body) {
        Ok(decoded) => decoded,
        Err(error) => return error_response(protocol, 400, error.to_string()),
    };
    if stream {
        self::stream(model, request, protocol).await
    } else {
        match model.generate(request).await {
            Ok(response) => json_response(encode_response(protocol, &response)),
            Err(error) => json_response(protocol.encode_error(&error)),
        }
    }
}

/// A non-streamed answer as `protocol`'s JSON. A Responses answer sends
/// every usage figure (a missing one as `0`): async-openai's usage type
/// requires them.
fn encode_response(protocol: WireProtocol, response: &ModelResponse) -> WireResponse {
    match protocol {
        WireProtocol::Responses => {
            WireResponse::json(200, &responses_response_body_complete(response))
        }
        _ => protocol.encode_response(response),
    }
}

async fn stream(
    model: &dyn Model,
    request: ModelRequest,
    protocol: WireProtocol,
) -> reqwest013::Response {
    match model.stream(request).await {
        Ok(parts) => {
            let body = reqwest013::Body::wrap_stream(sse_body(parts, protocol));
            let mut response = http::Response::new(body);
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(EncodedStream::CONTENT_TYPE),
            );
            response.into()
        }
        Err(error) => json_response(protocol.encode_error(&error)),
    }
}

/// An error the service answers itself (a path it does not serve, a body it
/// cannot read), as the provider's error response.
fn error_response(protocol: WireProtocol, status: u16, message: String) -> reqwest013::Response {
    json_response(protocol.encode_error(&ModelError::Http {
        provider: PROVIDER.to_owned(),
        status,
        message,
        retry_after_ms: None,
    }))
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

/// The encoder of a live stream, of either protocol.
enum LiveEncoder {
    Chat(ChatEncoder),
    Responses(ResponsesEncoder),
}

impl LiveEncoder {
    fn new(protocol: WireProtocol) -> Self {
        match protocol {
            WireProtocol::Responses => {
                Self::Responses(ResponsesEncoder::new(None).with_complete_usage())
            }
            // `[DONE]` is deferred to the stream's end: the encoder is told
            // the stream may still fail, so a finish sends no end marker of
            // its own.
            _ => Self::Chat(ChatEncoder::new(true)),
        }
    }

    fn encoder(&mut self) -> &mut dyn PartEncoder {
        match self {
            Self::Chat(encoder) => encoder,
            Self::Responses(encoder) => encoder,
        }
    }

    /// Whether a finish waits for the stream's end before it is sent: a
    /// Responses finish is the final event, which must say whether the
    /// stream failed (`response.failed` carries the error that follows).
    fn holds_finish(&self) -> bool {
        matches!(self, Self::Responses(_))
    }

    fn will_fail(&mut self, error: &StreamError) {
        if let Self::Responses(encoder) = self {
            encoder.will_fail(error);
        }
    }
}

/// A live stream being served: the model's parts, the encoder, and the
/// parts received but not yet sent because the encoder must see what comes
/// after them (framing only: a content part is never held).
struct Serving {
    parts: PartStream,
    encoder: LiveEncoder,
    held: Vec<StreamPart>,
}

impl Serving {
    /// Encodes the held parts, keeping back a trailing block start whose
    /// kind of content is not known yet and, unless `all`, a finish the
    /// encoder holds for the end.
    fn encode(&mut self, all: bool, out: &mut SseWriter) {
        let mut at = 0;
        while at < self.held.len() {
            let rest = &self.held[at..];
            if !all {
                let waits = match &rest[0] {
                    StreamPart::BlockStart { .. } => !rest[1..].iter().any(|p| {
                        p.is_content()
                            || matches!(
                                p,
                                StreamPart::ToolCallStart { .. }
                                    | StreamPart::BlockStart { .. }
                                    | StreamPart::BlockStop { .. }
                                    | StreamPart::Finish { .. }
                            )
                    }),
                    StreamPart::Finish { .. } => self.encoder.holds_finish() && rest.len() == 1,
                    _ => false,
                };
                if waits {
                    break;
                }
            }
            let used = self.encoder.encoder().part(&self.held, at, out);
            at += used.clamp(1, self.held.len() - at);
        }
        self.held.drain(..at);
    }
}

/// The SSE body of a model's stream, part by part as the model yields them:
/// each part's events are sent the moment it arrives (a part with no event,
/// such as a role delta, sends nothing; a block start goes with the content
/// it opens), then the end marker once the stream has ended, or the error
/// it ended in.
fn sse_body(
    parts: PartStream,
    protocol: WireProtocol,
) -> impl Stream<Item = Result<Bytes, BrokenStream>> + Send {
    let state = Some(Serving {
        parts,
        encoder: LiveEncoder::new(protocol),
        held: Vec::new(),
    });
    futures::stream::unfold(state, |state| async move {
        let mut serving = state?;
        loop {
            let mut out = SseWriter::default();
            match serving.parts.next().await {
                Some(Ok(part)) => {
                    serving.held.push(part);
                    serving.encode(false, &mut out);
                    let bytes = Bytes::from(out.into_stream(0, StreamEnd::Close).body());
                    if !bytes.is_empty() {
                        return Some((Ok(bytes), Some(serving)));
                    }
                }
                Some(Err(error)) => {
                    let error_end = StreamError::of(&error);
                    serving.encoder.will_fail(&error_end);
                    serving.encode(true, &mut out);
                    let end = serving.encoder.encoder().end(Some(&error_end), &mut out);
                    let bytes = Bytes::from(out.into_stream(0, end).body());
                    return Some(match end {
                        StreamEnd::Break => (Err(BrokenStream(error)), None),
                        _ => (Ok(bytes), None),
                    });
                }
                None => {
                    serving.encode(true, &mut out);
                    let end = serving.encoder.encoder().end(None, &mut out);
                    return Some((Ok(Bytes::from(out.into_stream(0, end).body())), None));
                }
            }
        }
    })
}
