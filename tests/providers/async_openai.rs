//! async-openai through tracedeck, in process (feature `async-openai`):
//! its real API (`client.chat().create(..)`, `create_stream(..)`, and the
//! Responses API's `client.responses().create(..)`, `create_stream(..)`)
//! over `tracedeck::adapters::async_openai::client`, on tokio's paused
//! clock.
//!
//! - the same exchange made through async-openai and through tracedeck's own
//!   path records the same span: request, parts with their offsets, output,
//!   timing; against a `ScriptedModel`, and against a loopback server read
//!   by tracedeck's own `OpenAi` / `OpenAiResponses` adapter (which then
//!   receives the same request body both ways);
//! - what the async-openai caller receives arrives at the parts' offsets
//!   (pass-through: a buffered body would deliver everything at the end);
//! - 16 concurrent turns on one shared client land each under its own root;
//! - a `Player`, and a `CassetteModel` in Replay mode over a store, serve
//!   the recording back through async-openai with no server;
//! - a stream error, a failed response, a cassette miss, a dropped stream,
//!   an unknown endpoint and a body tracedeck cannot hold come out as they
//!   would from OpenAI.

use std::sync::Arc;
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs, FinishReason as AoaiFinish,
};
use async_openai::types::responses::{
    CreateResponse, CreateResponseArgs, EasyInputContent, EasyInputMessage, FunctionCallOutput,
    FunctionCallOutputItemParam, FunctionToolArgs, InputContent, InputFileArgs, InputItem,
    InputParam, Item, OutputItem, ResponseStream, ResponseStreamEvent, Status, Tool,
};
use futures::StreamExt;
use tokio::time::Instant;
use tracedeck::context::with_span_result;
use tracedeck::model::{FinishReason, ModelInfo, Role, Usage};
use tracedeck::providers::codec::WireProtocol;
use tracedeck::providers::{OpenAi, OpenAiResponses};
use tracedeck::span::{RecordedPart, Span, SpanStatus};
use tracedeck::testing::{Reply, SseServer};
use tracedeck::{
    CassetteModel, Collector, Mode, Model, ModelError, ModelRequest, Player, Recorder, Script,
    ScriptedModel, StreamPart, Trace, with_span,
};

use crate::common::TempStore;

/// `tracedeck::adapters::async_openai::client`, after installing rustls's
/// ring provider once: async-openai builds a reqwest 0.13 client, and this
/// workspace's dev-dependencies turn on reqwest 0.13's rustls without a
/// default provider (for object_store's S3 test), so the test process
/// chooses one, as an application with that setup would.
fn client(
    model: Arc<dyn tracedeck::Model>,
) -> async_openai::Client<async_openai::config::OpenAIConfig> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracedeck::adapters::async_openai::client(model)
}

const MODEL: &str = "gpt-4o-mini";

fn usage() -> Usage {
    Usage {
        input_tokens: 12,
        output_tokens: 3,
        ..Usage::default()
    }
}

/// A stream that opens after 80 ms, then metadata, a role, two text deltas
/// 50 and 30 ms apart, usage and a finish.
fn script() -> Script {
    Script::new()
        .open_after(Duration::from_millis(80))
        .part(StreamPart::ResponseMetadata {
            id: Some("chatcmpl-1".into()),
            model: Some(MODEL.into()),
        })
        .part(StreamPart::RoleDelta {
            role: Role::Assistant,
        })
        .part_after(Duration::from_millis(50), StreamPart::text("Hel"))
        .part_after(Duration::from_millis(30), StreamPart::text("lo"))
        .part_after(
            Duration::from_millis(5),
            StreamPart::Usage { usage: usage() },
        )
        .part(StreamPart::Finish {
            reason: FinishReason::stop(),
            usage: Some(usage()),
        })
}

fn scripted() -> ScriptedModel {
    ScriptedModel::new(script()).with_info(ModelInfo::new("openai", MODEL))
}

/// The request as tracedeck's own callers write it.
fn native_request(question: &str) -> ModelRequest {
    ModelRequest::new(MODEL)
        .system("Be brief.")
        .user(question)
        .temperature(0.25)
        .max_tokens(32)
}

/// The same request as an async-openai caller writes it.
fn aoai_request(question: &str) -> CreateChatCompletionRequest {
    CreateChatCompletionRequestArgs::default()
        .model(MODEL)
        .messages(vec![
            ChatCompletionRequestSystemMessage::from("Be brief.").into(),
            ChatCompletionRequestUserMessage::from(question).into(),
        ])
        .temperature(0.25)
        .max_completion_tokens(32u32)
        .build()
        .unwrap()
}

/// Runs `fut` as the root span `key`, handing back its output (which need
/// not be serializable: the root records none).
async fn in_turn<T>(key: &str, fut: impl std::future::Future<Output = T>) -> T {
    let mut out = None;
    with_span(key, 0, async {
        out = Some(fut.await);
    })
    .await;
    out.expect("the turn ran")
}

/// The one model call of `trace`.
fn llm_span(trace: &Trace) -> &Span {
    let llm: Vec<&Span> = trace.spans.iter().filter(|s| s.is_llm()).collect();
    assert_eq!(llm.len(), 1, "one model call per turn:\n{}", trace.render());
    llm[0]
}

/// Reads an async-openai stream: the text, when each text chunk arrived
/// (µs from `t0`), the finish reason and the usage.
async fn read_stream(
    mut stream: async_openai::types::chat::ChatCompletionResponseStream,
    t0: Instant,
) -> (String, Vec<u64>, Option<AoaiFinish>, Option<(u32, u32)>) {
    let (mut text, mut arrivals, mut finish, mut usage) = (String::new(), Vec::new(), None, None);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        for choice in &chunk.choices {
            if let Some(delta) = choice.delta.content.as_deref().filter(|d| !d.is_empty()) {
                text.push_str(delta);
                arrivals.push(t0.elapsed().as_micros() as u64);
            }
            finish = finish.or(choice.finish_reason);
        }
        if let Some(u) = &chunk.usage {
            usage = Some((u.prompt_tokens, u.completion_tokens));
        }
    }
    (text, arrivals, finish, usage)
}

#[tokio::test(start_paused = true)]
async fn a_stream_through_async_openai_records_the_span_tracedeck_records_natively() {
    // tracedeck's own path.
    let native = Collector::new();
    let recorder = Recorder::new(scripted(), native.clone());
    with_span("turn", "Hi", async {
        let mut parts = recorder.stream(native_request("Hi")).await.unwrap();
        while let Some(part) = parts.next().await {
            part.unwrap();
        }
    })
    .await;

    // async-openai's API, over the same kind of recorder.
    let through = Collector::new();
    let client = client(Arc::new(Recorder::new(scripted(), through.clone())));
    let t0 = Instant::now();
    let (text, arrivals, finish, usage) = with_span("turn", "Hi", async {
        let stream = client
            .chat()
            .create_stream(aoai_request("Hi"))
            .await
            .unwrap();
        read_stream(stream, t0).await
    })
    .await;

    let (native, through) = (native.traces(), through.traces());
    let (native, through) = (llm_span(&native[0]), llm_span(&through[0]));
    assert_eq!(through.request(), Some(native_request("Hi")));
    assert_eq!(through, native, "request, parts, output, timing, status");
    assert_eq!(through.status, SpanStatus::Ok);
    assert_eq!(through.timing.ttft_us, Some(130_000));

    // The caller got every content part at its recorded offset.
    assert_eq!(text, "Hello");
    let offsets: Vec<u64> = through
        .parts
        .iter()
        .filter(|p| p.part.is_content())
        .map(|p| p.offset_us)
        .collect();
    assert_eq!(arrivals, offsets);
    assert_eq!(finish, Some(AoaiFinish::Stop));
    assert_eq!(usage, Some((12, 3)));
}

#[tokio::test(start_paused = true)]
async fn a_non_streamed_call_through_async_openai_records_the_native_span() {
    let native = Collector::new();
    let recorder = Recorder::new(scripted(), native.clone());
    let native_answer = with_span("turn", "Hi", async {
        recorder.generate(native_request("Hi")).await
    })
    .await
    .unwrap();

    let through = Collector::new();
    let client = client(Arc::new(Recorder::new(scripted(), through.clone())));
    let t0 = Instant::now();
    let answer = with_span_result("turn", "Hi", client.chat().create(aoai_request("Hi")))
        .await
        .unwrap();
    assert_eq!(
        t0.elapsed(),
        Duration::from_millis(165),
        "the script's length"
    );

    let (native, through) = (native.traces(), through.traces());
    assert_eq!(llm_span(&through[0]), llm_span(&native[0]));
    assert!(!llm_span(&through[0]).streamed);
    let message = &answer.choices[0].message;
    assert_eq!(
        message.content.as_deref(),
        Some(native_answer.text.as_str())
    );
    assert_eq!(answer.choices[0].finish_reason, Some(AoaiFinish::Stop));
    assert_eq!(answer.model, MODEL);
    let usage = answer.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (12, 3));
}

#[tokio::test(start_paused = true)]
async fn sixteen_concurrent_turns_on_one_shared_client_attribute_exactly() {
    let traces = Collector::new();
    // Each turn's answer echoes its question, after a delay that differs
    // per turn so the calls interleave.
    let model = ScriptedModel::from_fn(|req| {
        let question = req
            .messages
            .last()
            .map(|m| m.text_content())
            .unwrap_or_default();
        let n: u64 = question.trim_start_matches('q').parse().unwrap_or(0);
        Script::new()
            .open_after(Duration::from_millis(10 * (16 - n)))
            .part_after(
                Duration::from_millis(3 * n + 1),
                StreamPart::text(format!("a{n}")),
            )
            .part(StreamPart::finish(FinishReason::stop()))
    });
    let client = client(Arc::new(Recorder::new(model, traces.clone())));

    let turns = (0..16u64).map(|n| {
        let client = client.clone();
        tokio::spawn(with_span("turn", n, async move {
            let stream = client
                .chat()
                .create_stream(aoai_request(&format!("q{n}")))
                .await
                .unwrap();
            read_stream(stream, Instant::now()).await.0
        }))
    });
    // A call made with no current span (a bare `tokio::spawn`) among them
    // is a root of its own, never attached to a turn.
    let bare = {
        let client = client.clone();
        tokio::spawn(async move { client.chat().create(aoai_request("q15")).await.unwrap() })
    };
    let answers: Vec<String> = futures::future::join_all(turns)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        answers,
        (0..16).map(|n| format!("a{n}")).collect::<Vec<_>>()
    );

    bare.await.unwrap();
    let all = traces.traces();
    let roots: Vec<&Span> = all
        .iter()
        .map(|t| t.root())
        .filter(|r| r.is_llm())
        .collect();
    assert_eq!(roots.len(), 1, "the bare call is a root of its own");
    assert!(!roots[0].streamed);

    let traces = traces.traces_for("turn");
    assert_eq!(traces.len(), 16);
    for trace in &traces {
        let n = trace.root().input.as_u64().unwrap();
        let call = llm_span(trace);
        assert_eq!(call.parent, Some(trace.root().id));
        let req = call.request().unwrap();
        assert_eq!(
            req.messages[0].text_content(),
            format!("q{n}"),
            "{}",
            trace.render()
        );
        assert_eq!(call.response().unwrap().text, format!("a{n}"));
        assert_eq!(
            call.timing.ttft_us,
            Some((10 * (16 - n) + 3 * n + 1) * 1000)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_player_serves_the_recording_through_async_openai_with_no_server() {
    let recorded = Collector::new();
    let recording_client = client(Arc::new(Recorder::new(scripted(), recorded.clone())));
    with_span("turn", "Hi", async {
        let stream = recording_client
            .chat()
            .create_stream(aoai_request("Hi"))
            .await
            .unwrap();
        read_stream(stream, Instant::now()).await
    })
    .await;
    let recorded = recorded.traces();
    let span = llm_span(&recorded[0]).clone();

    // Replay: a Player, recording again what it serves.
    let replayed = Collector::new();
    let player = Player::from_traces("turn", recorded);
    let client = client(Arc::new(Recorder::new(player, replayed.clone())));
    let t0 = Instant::now();
    let (text, arrivals, finish, usage) = with_span("turn", "Hi", async {
        let stream = client
            .chat()
            .create_stream(aoai_request("Hi"))
            .await
            .unwrap();
        read_stream(stream, t0).await
    })
    .await;
    assert_eq!(text, "Hello");
    assert_eq!(arrivals, [130_000, 160_000], "the recorded offsets");
    assert_eq!(finish, Some(AoaiFinish::Stop));
    assert_eq!(usage, Some((12, 3)));
    let again = replayed.traces();
    let again = llm_span(&again[0]);
    assert_eq!(again.parts, span.parts);
    assert_eq!(again.output, span.output);
    assert_eq!(again.timing, span.timing);

    // A request that was never recorded is OpenAI's error response, with the
    // miss's diagnosis in its message.
    let err = in_turn("turn", client.chat().create_stream(aoai_request("Bye")))
        .await
        .err()
        .expect("a miss is an error");
    let OpenAIError::ApiError(api) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(api.status_code.as_u16(), 404);
    assert!(
        api.api_error.message.contains("turn"),
        "{}",
        api.api_error.message
    );
}

#[tokio::test(start_paused = true)]
async fn errors_and_early_drops_come_out_as_from_openai_and_are_recorded() {
    let traces = Collector::new();
    let model = ScriptedModel::from_fn(|req| match req.messages[0].text_content().as_str() {
        "fail" => Script::new()
            .part_after(Duration::from_millis(10), StreamPart::text("par"))
            .error_after(
                Duration::from_millis(10),
                ModelError::Provider {
                    provider: "openai".into(),
                    kind: "server_error".into(),
                    message: "the model crashed".into(),
                },
            ),
        "busy" => Script::new().fail_to_open(ModelError::Http {
            provider: "openai".into(),
            status: 429,
            message: "slow down".into(),
            retry_after_ms: Some(1500),
        }),
        _ => Script::new()
            .part_after(Duration::from_millis(10), StreamPart::text("one"))
            .part_after(Duration::from_secs(60), StreamPart::text("two"))
            .part(StreamPart::finish(FinishReason::stop())),
    });
    let client = client(Arc::new(Recorder::new(model, traces.clone())));

    // An error event mid-stream: the text before it, then the error.
    let mut stream = in_turn("fail", client.chat().create_stream(aoai_request("fail")))
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.choices[0].delta.content.as_deref(), Some("par"));
    assert!(stream.next().await.unwrap().is_err(), "the error event");
    drop(stream);

    // An error before the stream opened: the status and message.
    let err = in_turn("busy", client.chat().create_stream(aoai_request("busy")))
        .await
        .err()
        .unwrap();
    let OpenAIError::ApiError(api) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(api.status_code.as_u16(), 429);
    assert_eq!(api.api_error.message, "slow down");

    // The caller stops reading after the first part: the call is cancelled.
    with_span("drop", 0, async {
        let mut stream = client
            .chat()
            .create_stream(aoai_request("drop"))
            .await
            .unwrap();
        stream.next().await.unwrap().unwrap();
    })
    .await;
    // The reader task async-openai spawned notices the drop on its next poll.
    tokio::time::sleep(Duration::from_millis(1)).await;

    let status = |key: &str| llm_span(&traces.traces_for(key)[0]).clone();
    let failed = status("fail");
    assert_eq!(failed.status, SpanStatus::Error);
    assert_eq!(failed.response().unwrap().text, "par");
    assert_eq!(status("busy").status, SpanStatus::Error);
    let dropped = status("drop");
    assert_eq!(dropped.status, SpanStatus::Cancelled);
    assert_eq!(dropped.response().unwrap().text, "one");
}

#[tokio::test]
async fn a_body_tracedeck_cannot_hold_is_a_400_naming_the_field() {
    let model = ScriptedModel::new(Script::text("unused"));
    let client = client(Arc::new(model));
    let mut request = aoai_request("Hi");
    if let async_openai::types::chat::ChatCompletionRequestMessage::User(user) =
        &mut request.messages[1]
    {
        user.name = Some("bob".into());
    }
    let err = client.chat().create(request).await.unwrap_err();
    let OpenAIError::ApiError(api) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(api.status_code.as_u16(), 400);
    assert!(
        api.api_error.message.contains("messages[1].name"),
        "{}",
        api.api_error.message
    );

    // An endpoint it does not serve (listing stored chat completions): a
    // 404 saying what is served.
    let err = client.chat().list().await.unwrap_err();
    let OpenAIError::ApiError(api) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(api.status_code.as_u16(), 404);
    assert!(
        api.api_error.message.contains("POST .../chat/completions")
            && api.api_error.message.contains("POST .../responses")
            && api.api_error.message.contains("GET /v1/chat/completions"),
        "{}",
        api.api_error.message
    );
}

// ------------------------------------------- the same exchange over loopback

/// A live HTTP adapter seen as a test double. Its server is a loopback
/// script on tokio's clock, so its times are the script's: a `Recorder`
/// records the call on the paused clock (it refuses a *live* call's trace
/// there, whose times would be invented).
struct Loopback(Box<dyn Model>);

impl Model for Loopback {
    fn info(&self) -> ModelInfo {
        self.0.info()
    }
    fn generate(
        &self,
        req: ModelRequest,
    ) -> futures::future::BoxFuture<'static, Result<tracedeck::ModelResponse, ModelError>> {
        self.0.generate(req)
    }
    fn stream(
        &self,
        req: ModelRequest,
    ) -> futures::future::BoxFuture<'static, Result<tracedeck::model::PartStream, ModelError>> {
        self.0.stream(req)
    }
}

/// tracedeck's own adapter for `protocol`, at `base` (`.../v1`).
fn adapter(protocol: WireProtocol, base: &str) -> Loopback {
    Loopback(match protocol {
        WireProtocol::Responses => Box::new(
            OpenAiResponses::new(MODEL)
                .api_key("test-key")
                .base_url(base),
        ),
        _ => Box::new(OpenAi::new(MODEL).api_key("test-key").base_url(base)),
    })
}

/// The script's parts (see [`script`]) at their offsets from the headers.
fn recorded_parts() -> Vec<RecordedPart> {
    let at = |ms: u64, part: StreamPart| RecordedPart {
        offset_us: ms * 1000,
        part,
    };
    vec![
        at(
            0,
            StreamPart::ResponseMetadata {
                id: Some("resp-1".into()),
                model: Some(MODEL.into()),
            },
        ),
        at(
            0,
            StreamPart::RoleDelta {
                role: Role::Assistant,
            },
        ),
        at(50, StreamPart::text("Hel")),
        at(80, StreamPart::text("lo")),
        at(85, StreamPart::Usage { usage: usage() }),
        at(
            85,
            StreamPart::Finish {
                reason: FinishReason::stop(),
                usage: Some(usage()),
            },
        ),
    ]
}

/// A loopback server answering every request as `protocol` does: headers
/// after 80 ms, then the recorded stream at its offsets; or, for a
/// non-streamed call, the whole answer after 165 ms.
async fn serve(protocol: WireProtocol, streamed: bool) -> SseServer {
    let reply = if streamed {
        let stream = protocol.encode_stream(&recorded_parts(), None);
        let mut reply = Reply::sse().headers_after(Duration::from_millis(80));
        let mut last = 0;
        for chunk in &stream.chunks {
            reply = reply.chunk_after(
                Duration::from_micros(chunk.offset_us - last),
                chunk.bytes.clone(),
            );
            last = chunk.offset_us;
        }
        reply
    } else {
        let parts: Vec<StreamPart> = recorded_parts().into_iter().map(|r| r.part).collect();
        let mut answer =
            tracedeck::model::ResponseAccumulator::new(ModelInfo::new("openai", MODEL));
        for part in &parts {
            answer.push(part);
        }
        let wire = protocol.encode_response(&answer.finish());
        let body: serde_json::Value = serde_json::from_slice(&wire.body).unwrap();
        Reply::json(200, &body).headers_after(Duration::from_millis(165))
    };
    SseServer::serve(reply).await.unwrap()
}

/// The same request as an async-openai caller writes it for the Responses API.
fn aoai_responses_request(question: &str) -> CreateResponse {
    CreateResponseArgs::default()
        .model(MODEL)
        .instructions("Be brief.")
        .input(InputParam::from([EasyInputMessage::from(question)]))
        .temperature(0.25)
        .max_output_tokens(32u32)
        .build()
        .unwrap()
}

/// What a caller of `responses().create_stream(..)` saw.
#[derive(Debug, Default)]
struct ResponsesRead {
    text: String,
    /// When each text delta arrived (µs from `t0`).
    arrivals: Vec<u64>,
    /// The final event's type and response status.
    end: Option<(&'static str, Status)>,
    /// Input and output tokens of the final event.
    usage: Option<(u32, u32)>,
    /// The code and message of an `error` event, or of a failed response.
    error: Option<(Option<String>, String)>,
}

/// Reads a Responses stream to its end.
async fn read_responses(mut stream: ResponseStream, t0: Instant) -> ResponsesRead {
    let mut read = ResponsesRead::default();
    while let Some(event) = stream.next().await {
        let (kind, response) = match event.unwrap() {
            ResponseStreamEvent::ResponseOutputTextDelta(delta) => {
                read.text.push_str(&delta.delta);
                read.arrivals.push(t0.elapsed().as_micros() as u64);
                continue;
            }
            ResponseStreamEvent::ResponseError(error) => {
                read.error = Some((error.code, error.message));
                continue;
            }
            ResponseStreamEvent::ResponseCompleted(end) => ("response.completed", end.response),
            ResponseStreamEvent::ResponseIncomplete(end) => ("response.incomplete", end.response),
            ResponseStreamEvent::ResponseFailed(end) => ("response.failed", end.response),
            _ => continue,
        };
        read.end = Some((kind, response.status));
        read.usage = response.usage.map(|u| (u.input_tokens, u.output_tokens));
        if let Some(error) = response.error {
            read.error = Some((Some(format!("{:?}", error.code)), error.message));
        }
    }
    read
}

/// The llm span of the only trace `traces` collected.
fn only_call(traces: &Collector) -> Span {
    let traces = traces.traces();
    assert_eq!(traces.len(), 1);
    llm_span(&traces[0]).clone()
}

#[tokio::test(start_paused = true)]
async fn a_responses_stream_through_async_openai_records_what_the_openai_responses_adapter_records()
{
    let server = serve(WireProtocol::Responses, true).await;
    let base = format!("{}/v1", server.url());

    // tracedeck's own adapter.
    let native = Collector::new();
    let recorder = Recorder::new(adapter(WireProtocol::Responses, &base), native.clone());
    with_span("turn", "Hi", async {
        let mut parts = recorder.stream(native_request("Hi")).await.unwrap();
        while let Some(part) = parts.next().await {
            part.unwrap();
        }
    })
    .await;

    // async-openai's Responses API, over the same adapter.
    let through = Collector::new();
    let client = client(Arc::new(Recorder::new(
        adapter(WireProtocol::Responses, &base),
        through.clone(),
    )));
    let t0 = Instant::now();
    let read = in_turn("turn", async {
        let stream = client
            .responses()
            .create_stream(aoai_responses_request("Hi"))
            .await
            .unwrap();
        read_responses(stream, t0).await
    })
    .await;

    // The server saw the same request both ways.
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body_json(), requests[1].body_json());
    assert_eq!(requests[1].path, "/v1/responses");

    let (native, through) = (only_call(&native), only_call(&through));
    assert_eq!(through.request(), Some(native_request("Hi")));
    assert_eq!(through, native, "request, parts, output, timing, status");
    assert_eq!(through.status, SpanStatus::Ok);
    assert_eq!(through.timing.ttft_us, Some(130_000));

    // The caller got every text delta at its offset, and the end.
    assert_eq!(read.text, "Hello");
    let offsets: Vec<u64> = through
        .parts
        .iter()
        .filter(|p| p.part.is_content())
        .map(|p| p.offset_us)
        .collect();
    assert_eq!(read.arrivals, offsets);
    assert_eq!(read.end, Some(("response.completed", Status::Completed)));
    assert_eq!(read.usage, Some((12, 3)));
    assert_eq!(read.error, None);
}

#[tokio::test(start_paused = true)]
async fn a_non_streamed_response_through_async_openai_records_what_the_adapter_records() {
    let server = serve(WireProtocol::Responses, false).await;
    let base = format!("{}/v1", server.url());

    let native = Collector::new();
    let recorder = Recorder::new(adapter(WireProtocol::Responses, &base), native.clone());
    // The call inside the turn: its parent is taken when it is made.
    let native_answer = with_span("turn", "Hi", async {
        recorder.generate(native_request("Hi")).await
    })
    .await
    .unwrap();

    let through = Collector::new();
    let client = client(Arc::new(Recorder::new(
        adapter(WireProtocol::Responses, &base),
        through.clone(),
    )));
    let t0 = Instant::now();
    let answer = with_span_result(
        "turn",
        "Hi",
        client.responses().create(aoai_responses_request("Hi")),
    )
    .await
    .unwrap();
    assert_eq!(
        t0.elapsed(),
        Duration::from_millis(165),
        "the server's delay"
    );

    let requests = server.requests();
    assert_eq!(requests[0].body_json(), requests[1].body_json());
    let (native, through) = (only_call(&native), only_call(&through));
    assert_eq!(through, native);
    assert!(!through.streamed);
    assert_eq!(
        answer.output_text().as_deref(),
        Some(native_answer.text.as_str())
    );
    assert_eq!(answer.status, Status::Completed);
    assert_eq!(answer.model, MODEL);
    let usage = answer.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (12, 3));
    assert_eq!(
        usage.input_tokens_details.cached_tokens, 0,
        "a figure the model did not report reads as 0"
    );
}

/// Issue 13 item 2 names tracedeck's own `OpenAi` adapter: chat completions
/// over loopback, streamed and not, record the same span both ways.
#[tokio::test(start_paused = true)]
async fn a_chat_exchange_through_async_openai_records_what_the_openai_adapter_records() {
    for streamed in [true, false] {
        let server = serve(WireProtocol::ChatCompletions, streamed).await;
        let base = format!("{}/v1", server.url());

        let native = Collector::new();
        let recorder = Recorder::new(
            adapter(WireProtocol::ChatCompletions, &base),
            native.clone(),
        );
        with_span("turn", "Hi", async {
            if streamed {
                let mut parts = recorder.stream(native_request("Hi")).await.unwrap();
                while let Some(part) = parts.next().await {
                    part.unwrap();
                }
            } else {
                recorder.generate(native_request("Hi")).await.unwrap();
            }
        })
        .await;

        let through = Collector::new();
        let client = client(Arc::new(Recorder::new(
            adapter(WireProtocol::ChatCompletions, &base),
            through.clone(),
        )));
        let t0 = Instant::now();
        let text = with_span("turn", "Hi", async {
            if streamed {
                let stream = client
                    .chat()
                    .create_stream(aoai_request("Hi"))
                    .await
                    .unwrap();
                read_stream(stream, t0).await.0
            } else {
                let answer = client.chat().create(aoai_request("Hi")).await.unwrap();
                answer.choices[0]
                    .message
                    .content
                    .clone()
                    .unwrap_or_default()
            }
        })
        .await;

        let requests = server.requests();
        assert_eq!(
            requests[0].body_json(),
            requests[1].body_json(),
            "{streamed}"
        );
        let (native, through) = (only_call(&native), only_call(&through));
        assert_eq!(through, native, "streamed: {streamed}");
        assert_eq!(through.streamed, streamed);
        assert_eq!(text, "Hello");
        if streamed {
            assert_eq!(through.timing.ttft_us, Some(130_000));
        }
    }
}

// ------------------------------------------------------- Responses, at scale

#[tokio::test(start_paused = true)]
async fn sixteen_concurrent_responses_turns_on_one_shared_client_attribute_exactly() {
    let traces = Collector::new();
    let model = ScriptedModel::from_fn(|req| {
        let question = req
            .messages
            .last()
            .map(|m| m.text_content())
            .unwrap_or_default();
        let n: u64 = question.trim_start_matches('q').parse().unwrap_or(0);
        Script::new()
            .open_after(Duration::from_millis(10 * (16 - n)))
            .part_after(
                Duration::from_millis(3 * n + 1),
                StreamPart::text(format!("a{n}")),
            )
            .part(StreamPart::finish(FinishReason::stop()))
    });
    let client = client(Arc::new(Recorder::new(model, traces.clone())));

    // Half the turns stream, half do not.
    let turns = (0..16u64).map(|n| {
        let client = client.clone();
        tokio::spawn(with_span("turn", n, async move {
            let request = aoai_responses_request(&format!("q{n}"));
            if n % 2 == 0 {
                let stream = client.responses().create_stream(request).await.unwrap();
                read_responses(stream, Instant::now()).await.text
            } else {
                let answer = client.responses().create(request).await.unwrap();
                answer.output_text().unwrap_or_default()
            }
        }))
    });
    let bare = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .responses()
                .create(aoai_responses_request("q15"))
                .await
                .unwrap()
        })
    };
    let answers: Vec<String> = futures::future::join_all(turns)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        answers,
        (0..16).map(|n| format!("a{n}")).collect::<Vec<_>>()
    );
    bare.await.unwrap();

    let all = traces.traces();
    let roots: Vec<&Span> = all
        .iter()
        .map(|t| t.root())
        .filter(|r| r.is_llm())
        .collect();
    assert_eq!(roots.len(), 1, "the bare call is a root of its own");

    let traces = traces.traces_for("turn");
    assert_eq!(traces.len(), 16);
    for trace in &traces {
        let n = trace.root().input.as_u64().unwrap();
        let call = llm_span(trace);
        assert_eq!(call.parent, Some(trace.root().id));
        assert_eq!(call.streamed, n % 2 == 0);
        let req = call.request().unwrap();
        assert_eq!(req.system.as_deref(), Some("Be brief."));
        assert_eq!(
            req.messages[0].text_content(),
            format!("q{n}"),
            "{}",
            trace.render()
        );
        assert_eq!(call.response().unwrap().text, format!("a{n}"));
        if call.streamed {
            assert_eq!(
                call.timing.ttft_us,
                Some((10 * (16 - n) + 3 * n + 1) * 1000)
            );
        }
    }
}

// ------------------------------------------------ replay from a store, offline

/// Records one streamed turn of `protocol` through async-openai from a
/// loopback server into a store, stops the server, then replays the store
/// in Replay mode through async-openai: the caller gets the same text at
/// the recorded offsets and the replayed call has the recorded parts and
/// timing. The live model the cassette stands in front of points at the
/// stopped server: any call reaching it would fail.
async fn record_then_replay_from_a_store(protocol: WireProtocol) {
    let store = TempStore::new();
    let server = serve(protocol, true).await;
    let base = format!("{}/v1", server.url());
    let recorder = Arc::new(Recorder::new(adapter(protocol, &base), store.sink()));
    let recording_client = client(recorder.clone());
    let recorded_text = with_span("turn", "Hi", turn(protocol, &recording_client, "Hi")).await;
    assert!(recorder.flush().await.is_clean());
    drop(server);
    let recorded = store.traces("turn").unwrap().traces;
    assert_eq!(recorded.len(), 1);
    let span = llm_span(&recorded[0].trace).clone();

    let cassette = CassetteModel::on((*store).clone())
        .mode(Mode::Replay)
        .key("turn")
        .in_front_of(adapter(protocol, &base))
        .unwrap();
    let replayed = Collector::new();
    let client = client(Arc::new(Recorder::new(cassette, replayed.clone())));
    let (text, arrivals) = with_span("turn", "Hi", turn(protocol, &client, "Hi")).await;
    assert_eq!(text, "Hello");
    assert_eq!(text, recorded_text.0);
    assert_eq!(arrivals, [130_000, 160_000], "the recorded offsets");
    let again = only_call(&replayed);
    assert_eq!(again.parts, span.parts);
    assert_eq!(again.output, span.output);
    assert_eq!(again.timing, span.timing);
    assert_eq!(again.request(), span.request());

    // A question never recorded is a miss, as OpenAI's 404 error.
    let err = in_turn("turn", async {
        match protocol {
            WireProtocol::Responses => client
                .responses()
                .create(aoai_responses_request("Bye"))
                .await
                .map(drop),
            _ => client.chat().create(aoai_request("Bye")).await.map(drop),
        }
    })
    .await
    .unwrap_err();
    let OpenAIError::ApiError(api) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(api.status_code.as_u16(), 404);
    assert!(
        api.api_error.message.contains("turn"),
        "{}",
        api.api_error.message
    );
}

/// One streamed turn through async-openai's API for `protocol`: the text
/// and when each piece of it arrived.
async fn turn(
    protocol: WireProtocol,
    client: &async_openai::Client<async_openai::config::OpenAIConfig>,
    question: &str,
) -> (String, Vec<u64>) {
    let t0 = Instant::now();
    match protocol {
        WireProtocol::Responses => {
            let stream = client
                .responses()
                .create_stream(aoai_responses_request(question))
                .await
                .unwrap();
            let read = read_responses(stream, t0).await;
            (read.text, read.arrivals)
        }
        _ => {
            let stream = client
                .chat()
                .create_stream(aoai_request(question))
                .await
                .unwrap();
            let (text, arrivals, _, _) = read_stream(stream, t0).await;
            (text, arrivals)
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_responses_recording_replays_from_the_store_in_replay_mode_with_no_server() {
    record_then_replay_from_a_store(WireProtocol::Responses).await;
}

#[tokio::test(start_paused = true)]
async fn a_chat_recording_replays_from_the_store_in_replay_mode_with_no_server() {
    record_then_replay_from_a_store(WireProtocol::ChatCompletions).await;
}

// ------------------------------------------------------ Responses, its errors

#[tokio::test(start_paused = true)]
async fn responses_errors_and_early_drops_come_out_as_from_openai_and_are_recorded() {
    let traces = Collector::new();
    let crash = || ModelError::Provider {
        provider: "openai".into(),
        kind: "server_error".into(),
        message: "the model crashed".into(),
    };
    let model = ScriptedModel::from_fn(move |req| match req.messages[0].text_content().as_str() {
        "fail" => Script::new()
            .part_after(Duration::from_millis(10), StreamPart::text("par"))
            .error_after(Duration::from_millis(10), crash()),
        // How the Responses decoder reads `response.failed`: its finish,
        // then the error.
        "failed" => Script::new()
            .part_after(Duration::from_millis(10), StreamPart::text("par"))
            .part(StreamPart::Finish {
                reason: FinishReason::new(tracedeck::model::FinishKind::Error, "failed"),
                usage: Some(usage()),
            })
            .error_after(Duration::ZERO, crash()),
        "busy" => Script::new().fail_to_open(ModelError::Http {
            provider: "openai".into(),
            status: 429,
            message: "slow down".into(),
            retry_after_ms: Some(1500),
        }),
        _ => Script::new()
            .part_after(Duration::from_millis(10), StreamPart::text("one"))
            .part_after(Duration::from_secs(60), StreamPart::text("two"))
            .part(StreamPart::finish(FinishReason::stop())),
    });
    let client = client(Arc::new(Recorder::new(model, traces.clone())));
    let read = |question: &'static str| {
        let client = client.clone();
        in_turn(question, async move {
            let stream = client
                .responses()
                .create_stream(aoai_responses_request(question))
                .await
                .unwrap();
            read_responses(stream, Instant::now()).await
        })
    };

    // An error mid-stream: the text before it, then the `error` event.
    let failed = read("fail").await;
    assert_eq!(failed.text, "par");
    assert_eq!(
        failed.error,
        Some((Some("server_error".into()), "the model crashed".into()))
    );
    assert_eq!(failed.end, None, "no final event after an error");

    // A failed response: `response.failed`, carrying the error and usage.
    let failed_response = read("failed").await;
    assert_eq!(failed_response.text, "par");
    assert_eq!(
        failed_response.end,
        Some(("response.failed", Status::Failed))
    );
    assert_eq!(failed_response.usage, Some((12, 3)));
    let (_, message) = failed_response.error.unwrap();
    assert_eq!(message, "the model crashed");

    // An error before the stream opened: the status and message.
    let err = in_turn(
        "busy",
        client
            .responses()
            .create_stream(aoai_responses_request("busy")),
    )
    .await
    .err()
    .unwrap();
    let OpenAIError::ApiError(api) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(api.status_code.as_u16(), 429);
    assert_eq!(api.api_error.message, "slow down");

    // The caller stops reading at the first text: the call is cancelled.
    with_span("drop", 0, async {
        let mut stream = client
            .responses()
            .create_stream(aoai_responses_request("drop"))
            .await
            .unwrap();
        while let Some(event) = stream.next().await {
            if let ResponseStreamEvent::ResponseOutputTextDelta(_) = event.unwrap() {
                break;
            }
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1)).await;

    let status = |key: &str| llm_span(&traces.traces_for(key)[0]).clone();
    for key in ["fail", "failed", "busy"] {
        assert_eq!(status(key).status, SpanStatus::Error, "{key}");
    }
    assert_eq!(status("fail").response().unwrap().text, "par");
    let dropped = status("drop");
    assert_eq!(dropped.status, SpanStatus::Cancelled);
    assert_eq!(dropped.response().unwrap().text, "one");
}

#[tokio::test]
async fn responses_requests_tracedeck_cannot_serve_are_clear_errors() {
    let client = client(Arc::new(ScriptedModel::new(Script::text("unused"))));

    // An input it cannot hold: a 400 naming the place.
    let file = InputContent::InputFile(InputFileArgs::default().file_id("file-1").build().unwrap());
    let request = CreateResponseArgs::default()
        .model(MODEL)
        .input(InputParam::from([EasyInputMessage {
            content: EasyInputContent::ContentList(vec![file]),
            ..EasyInputMessage::from("")
        }]))
        .build()
        .unwrap();
    let err = client.responses().create(request).await.unwrap_err();
    let OpenAIError::ApiError(api) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(api.status_code.as_u16(), 400);
    assert!(
        api.api_error.message.contains("input[0].content[0]"),
        "{}",
        api.api_error.message
    );

    // The endpoints of stored responses: a 404 saying what is served.
    let err = client.responses().retrieve("resp_1").await.unwrap_err();
    let OpenAIError::ApiError(api) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(api.status_code.as_u16(), 404);
    assert!(
        api.api_error.message.contains("GET /v1/responses/resp_1")
            && api.api_error.message.contains("POST .../responses"),
        "{}",
        api.api_error.message
    );
}

/// A tool call streamed as the Responses decoder reads one (a block start,
/// then the call's start and arguments): async-openai's caller sees one
/// `function_call` output item from the first event, as OpenAI sends it,
/// and the final response holds just that call.
#[tokio::test(start_paused = true)]
async fn a_streamed_tool_call_reaches_async_openai_as_one_function_call_item() {
    let script = Script::new()
        .part(StreamPart::ResponseMetadata {
            id: Some("resp_1".into()),
            model: Some(MODEL.into()),
        })
        .part_after(
            Duration::from_millis(20),
            StreamPart::BlockStart { index: 0 },
        )
        .part(StreamPart::ToolCallStart {
            id: "call_1".into(),
            name: "get_weather".into(),
        })
        .part_after(
            Duration::from_millis(10),
            StreamPart::ToolCallDelta {
                id: "call_1".into(),
                arguments: "{\"city\":\"Oslo\"}".into(),
            },
        )
        .part(StreamPart::BlockStop { index: 0 })
        .part(StreamPart::Finish {
            reason: FinishReason::new(tracedeck::model::FinishKind::ToolCalls, "completed"),
            usage: Some(usage()),
        });
    let client = client(Arc::new(ScriptedModel::new(script)));
    let mut stream = client
        .responses()
        .create_stream(aoai_responses_request("Weather in Oslo?"))
        .await
        .unwrap();
    let (mut added, mut arguments, mut output) = (Vec::new(), String::new(), None);
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            ResponseStreamEvent::ResponseOutputItemAdded(item) => added.push(item.item),
            ResponseStreamEvent::ResponseFunctionCallArgumentsDelta(delta) => {
                arguments.push_str(&delta.delta)
            }
            ResponseStreamEvent::ResponseCompleted(done) => output = Some(done.response.output),
            _ => {}
        }
    }
    assert_eq!(added.len(), 1, "{added:?}");
    let OutputItem::FunctionCall(call) = &added[0] else {
        panic!("expected a function call item, got {:?}", added[0]);
    };
    assert_eq!(
        (call.call_id.as_str(), call.name.as_str()),
        ("call_1", "get_weather")
    );
    assert_eq!(arguments, "{\"city\":\"Oslo\"}");
    let output = output.expect("a completed response");
    assert_eq!(output.len(), 1);
    let OutputItem::FunctionCall(call) = &output[0] else {
        panic!("expected a function call item, got {:?}", output[0]);
    };
    assert_eq!(call.arguments, "{\"city\":\"Oslo\"}");
}

/// async-openai's tool loop over the Responses API: the caller hands the
/// response's output items back as input (with their ids and statuses),
/// then the tool's output. The second call records the request tracedeck's
/// own callers would write: the assistant turn with its text and call, then
/// the tool result.
#[tokio::test(start_paused = true)]
async fn a_responses_tool_loop_records_the_conversation_as_tracedeck_requests() {
    let traces = Collector::new();
    let model = ScriptedModel::from_fn(|req| {
        if req.messages.last().is_some_and(|m| m.role == Role::Tool) {
            return Script::text("Sunny in Oslo.");
        }
        Script::new()
            .part(StreamPart::text("Let me check."))
            .part(StreamPart::ToolCallStart {
                id: "call_1".into(),
                name: "get_weather".into(),
            })
            .part(StreamPart::ToolCallDelta {
                id: "call_1".into(),
                arguments: "{\"city\":\"Oslo\"}".into(),
            })
            .part(StreamPart::Finish {
                reason: FinishReason::new(tracedeck::model::FinishKind::ToolCalls, "completed"),
                usage: None,
            })
    });
    let client = client(Arc::new(Recorder::new(model, traces.clone())));
    let schema = serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let tool = Tool::Function(
        FunctionToolArgs::default()
            .name("get_weather")
            .description("The weather in a city")
            .parameters(schema.clone())
            .strict(false)
            .build()
            .unwrap(),
    );
    let ask = |input: Vec<InputItem>| {
        CreateResponseArgs::default()
            .model(MODEL)
            .input(InputParam::Items(input))
            .tools(vec![tool.clone()])
            .build()
            .unwrap()
    };

    let answer = in_turn("tools", async {
        let mut input: Vec<InputItem> = vec![EasyInputMessage::from("Weather in Oslo?").into()];
        let first = client.responses().create(ask(input.clone())).await.unwrap();
        let call_id = first
            .output
            .iter()
            .find_map(|item| match item {
                OutputItem::FunctionCall(call) => Some(call.call_id.clone()),
                _ => None,
            })
            .expect("a function call");
        input.extend(first.output.into_iter().map(InputItem::from));
        input.push(InputItem::Item(Item::FunctionCallOutput(
            FunctionCallOutputItemParam {
                call_id: Some(call_id),
                output: FunctionCallOutput::Text("sunny".into()),
                id: None,
                status: None,
                name: None,
                namespace: None,
                caller: None,
            },
        )));
        let second = client.responses().create(ask(input)).await.unwrap();
        second.output_text()
    })
    .await;
    assert_eq!(answer.as_deref(), Some("Sunny in Oslo."));

    let trace = &traces.traces_for("tools")[0];
    let calls: Vec<&Span> = trace.spans.iter().filter(|s| s.is_llm()).collect();
    assert_eq!(calls.len(), 2);
    let weather =
        tracedeck::model::ToolDefinition::new("get_weather", "The weather in a city", schema);
    let expected = ModelRequest::new(MODEL)
        .user("Weather in Oslo?")
        .tool(weather)
        .message(tracedeck::model::Message {
            role: Role::Assistant,
            content: vec![
                tracedeck::model::ContentPart::text("Let me check."),
                tracedeck::model::ContentPart::ToolCall {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    arguments: serde_json::json!({"city": "Oslo"}),
                },
            ],
        })
        .message(tracedeck::model::Message::tool_result("call_1", "sunny"));
    assert_eq!(calls[1].request(), Some(expected));
}
