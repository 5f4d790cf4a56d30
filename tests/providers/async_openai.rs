//! async-openai through tracedeck, in process (feature `async-openai`):
//! its real API (`client.chat().create(..)`, `create_stream(..)`) over
//! `tracedeck::adapters::async_openai::client`, on tokio's paused clock.
//!
//! - the same exchange made through async-openai and through tracedeck's own
//!   path (a `Recorder` around a `ScriptedModel`) records the same span:
//!   request, parts with their offsets, output, timing;
//! - what the async-openai caller receives arrives at the parts' offsets
//!   (pass-through: a buffered body would deliver everything at the end);
//! - 16 concurrent turns on one shared client land each under its own root;
//! - a `Player` serves the recording back through async-openai, no server;
//! - a stream error, a cassette miss and a dropped stream come out as they
//!   would from OpenAI.

use std::sync::Arc;
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs, FinishReason as AoaiFinish,
};
use futures::StreamExt;
use tokio::time::Instant;
use tracedeck::context::with_span_result;
use tracedeck::model::{FinishReason, ModelInfo, Role, Usage};
use tracedeck::span::{Span, SpanStatus};
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, Player, Recorder, Script, ScriptedModel,
    StreamPart, Trace, with_span,
};

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

    // The Responses API is not served: a 404 saying what is.
    let err = client.chat().list().await.unwrap_err();
    let OpenAIError::ApiError(api) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(api.status_code.as_u16(), 404);
    assert!(
        api.api_error.message.contains("chat completions only"),
        "{}",
        api.api_error.message
    );
}
