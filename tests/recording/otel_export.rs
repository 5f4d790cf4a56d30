//! Contract 12 through OpenTelemetry: `OtelSink` exports every finished
//! trace through an SDK `SpanExporter` (here the SDK's in-memory one) with
//! the GenAI names, the recorded times exactly (from a fixed anchor), the
//! recorded parent links, a TTFT from the first content part (never
//! framing), error status, and content or part events only when asked.

use std::time::{Duration, SystemTime};

use futures::StreamExt;
use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, Value};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData, SpanExporter};
use tracedeck::cassette::Redaction;
use tracedeck::export::{OtelOptions, OtelSink};
use tracedeck::model::ModelInfo;
use tracedeck::sink::{SinkError, Tee};
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, Recorder, Script, ScriptedModel, Span, StreamPart,
    Trace, with_span,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The fixed wall-clock start of every trace in these tests.
fn anchor() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// A recorder over `model` feeding a collector and an `OtelSink` into an
/// in-memory exporter.
fn recorder(
    model: ScriptedModel,
    options: OtelOptions,
) -> (Recorder<ScriptedModel>, Collector, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let traces = Collector::new();
    let sink = OtelSink::with_options(exporter.clone(), options);
    let rec = Recorder::new(model, Tee::new(traces.clone()).and(sink));
    (rec, traces, exporter)
}

fn only_trace(traces: &Collector) -> Trace {
    let [trace] = traces.traces().try_into().expect("exactly one trace");
    trace
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<&SpanData> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one span named {name:?} in {spans:#?}");
    found[0]
}

fn attr<'a>(span: &'a SpanData, name: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == name)
        .map(|kv| &kv.value)
}

fn string(span: &SpanData, name: &str) -> Option<String> {
    match attr(span, name) {
        Some(Value::String(s)) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn int(span: &SpanData, name: &str) -> Option<i64> {
    match attr(span, name) {
        Some(Value::I64(n)) => Some(*n),
        _ => None,
    }
}

fn float(span: &SpanData, name: &str) -> Option<f64> {
    match attr(span, name) {
        Some(Value::F64(n)) => Some(*n),
        _ => None,
    }
}

fn strings(span: &SpanData, name: &str) -> Option<Vec<String>> {
    match attr(span, name) {
        Some(Value::Array(Array::String(items))) => {
            Some(items.iter().map(|s| s.as_str().to_owned()).collect())
        }
        _ => None,
    }
}

/// The exported span starts and ends at the anchor plus the recorded times.
fn assert_times_exact(exported: &SpanData, span: &Span, anchor: SystemTime) {
    let start = anchor + Duration::from_micros(span.timing.start_us);
    assert_eq!(exported.start_time, start, "{}", span.key);
    assert_eq!(
        exported.end_time,
        start + Duration::from_micros(span.timing.duration_us),
        "{}",
        span.key
    );
    assert_eq!(int(exported, "tracedeck.span_id"), Some(span.id.0 as i64));
    assert_eq!(
        string(exported, "tracedeck.key").as_deref(),
        Some(span.key.as_str())
    );
}

/// The scenario: the stream opens at 800 ms with stream start,
/// metadata and a role-only delta (all framing); the first text comes at
/// 1.2 s. An exporter taking TTFT from the first part would say 0.8.
#[tokio::test(start_paused = true)]
async fn a_streamed_call_exports_ttft_from_the_first_content_part_and_every_gen_ai_attribute() {
    let script = crate::export_scenario::framing_then_content();
    let (model, traces, exporter) = recorder(
        ScriptedModel::new(script).with_info(ModelInfo::new("openai", "gpt-test")),
        OtelOptions::new().anchor(anchor()),
    );
    let mut request = ModelRequest::new("gpt-test")
        .user("hi")
        .temperature(0.25)
        .max_tokens(256);
    request.settings.top_p = Some(0.9);
    request.settings.seed = Some(7);
    request.settings.stop = vec!["END".into()];
    with_span("turn", "t", async {
        tokio::time::sleep(ms(20)).await;
        let mut parts = model.stream(request).await.unwrap();
        while parts.next().await.is_some() {}
    })
    .await;
    assert!(model.flush().await.is_clean());

    let trace = only_trace(&traces);
    let call = trace.llm_spans().next().unwrap();
    assert_eq!(call.timing.first_part_us, Some(800_000));
    assert_eq!(call.timing.ttft_us, Some(1_200_000));

    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let root = named(&spans, "turn");
    let chat = named(&spans, "chat gpt-test");

    // TTFT: exactly 1.2 s, the first text, not 0.8 s, the framing.
    assert_eq!(
        float(chat, "gen_ai.response.time_to_first_chunk"),
        Some(1.2)
    );

    assert_eq!(chat.span_kind, SpanKind::Client);
    assert_eq!(root.span_kind, SpanKind::Internal);
    assert_eq!(chat.status, Status::Unset);
    assert_eq!(chat.instrumentation_scope.name(), "tracedeck");
    assert_eq!(
        string(chat, "gen_ai.operation.name").as_deref(),
        Some("chat")
    );
    assert_eq!(
        string(chat, "gen_ai.provider.name").as_deref(),
        Some("openai")
    );
    assert_eq!(
        string(chat, "gen_ai.request.model").as_deref(),
        Some("gpt-test")
    );
    assert_eq!(float(chat, "gen_ai.request.temperature"), Some(0.25));
    assert_eq!(int(chat, "gen_ai.request.max_tokens"), Some(256));
    assert_eq!(float(chat, "gen_ai.request.top_p"), Some(0.9));
    assert_eq!(int(chat, "gen_ai.request.seed"), Some(7));
    assert_eq!(
        strings(chat, "gen_ai.request.stop_sequences"),
        Some(vec!["END".to_owned()])
    );
    assert_eq!(attr(chat, "gen_ai.request.top_k"), None);
    assert_eq!(
        string(chat, "gen_ai.response.id").as_deref(),
        Some("resp_42")
    );
    assert_eq!(
        string(chat, "gen_ai.response.model").as_deref(),
        Some("gpt-test-2025-01-01")
    );
    assert_eq!(
        strings(chat, "gen_ai.response.finish_reasons"),
        Some(vec!["length".to_owned()])
    );
    assert_eq!(int(chat, "gen_ai.usage.input_tokens"), Some(12));
    assert_eq!(int(chat, "gen_ai.usage.output_tokens"), Some(7));
    assert_eq!(int(chat, "gen_ai.usage.cache_read.input_tokens"), Some(4));
    assert_eq!(
        int(chat, "gen_ai.usage.cache_creation.input_tokens"),
        Some(2)
    );
    assert_eq!(int(chat, "gen_ai.usage.reasoning.output_tokens"), Some(3));
    assert_eq!(string(chat, "tracedeck.status").as_deref(), Some("ok"));
    assert_eq!(attr(chat, "error.type"), None);
    // Content and part events are opt-in.
    for name in [
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
    ] {
        assert_eq!(attr(chat, name), None, "{name}");
    }
    assert!(chat.events.is_empty());

    // Times: exact from the anchor; the call starts 20 ms into the trace.
    assert_eq!(call.timing.start_us, 20_000);
    assert_eq!(call.timing.duration_us, 1_235_000);
    assert_times_exact(chat, call, anchor());
    assert_times_exact(root, trace.root(), anchor());

    // Ids: one trace, the call's parent is the task.
    assert_eq!(chat.span_context.trace_id(), root.span_context.trace_id());
    assert_eq!(chat.parent_span_id, root.span_context.span_id());
    assert_eq!(root.parent_span_id, SpanId::INVALID);
    assert_ne!(chat.span_context.span_id(), root.span_context.span_id());
    assert!(chat.span_context.is_valid() && chat.span_context.is_sampled());

    // The task span: named by its key, no GenAI attributes.
    assert!(
        !root
            .attributes
            .iter()
            .any(|kv| kv.key.as_str().starts_with("gen_ai.")),
        "{root:#?}"
    );
}

/// Tasks within tasks and several calls: each exported span's parent is
/// the one recorded, and every time is exact.
#[tokio::test(start_paused = true)]
async fn spans_nest_as_recorded_with_exact_times() {
    let (model, traces, exporter) = recorder(
        ScriptedModel::new(Script::new().part_after(ms(10), StreamPart::text("ok"))),
        OtelOptions::new().anchor(anchor()),
    );
    let model = &model;
    with_span("agent", "go", async move {
        model
            .generate(ModelRequest::new("planner").user("plan"))
            .await
            .unwrap();
        with_span("tool-step", "search", async move {
            tokio::time::sleep(ms(3)).await;
            model
                .generate(ModelRequest::new("worker").user("do"))
                .await
                .unwrap();
        })
        .await;
    })
    .await;
    assert!(model.flush().await.is_clean());

    let trace = only_trace(&traces);
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), trace.spans.len());
    let agent = named(&spans, "agent");
    let step = named(&spans, "tool-step");
    let planner = named(&spans, "chat planner");
    let worker = named(&spans, "chat worker");
    assert_eq!(agent.parent_span_id, SpanId::INVALID);
    assert_eq!(planner.parent_span_id, agent.span_context.span_id());
    assert_eq!(step.parent_span_id, agent.span_context.span_id());
    assert_eq!(worker.parent_span_id, step.span_context.span_id());
    let trace_id = agent.span_context.trace_id();
    assert!(spans.iter().all(|s| s.span_context.trace_id() == trace_id));
    for exported in &spans {
        let id = int(exported, "tracedeck.span_id").unwrap();
        let span = trace.span(tracedeck::span::SpanId(id as u64)).unwrap();
        assert_times_exact(exported, span, anchor());
    }
    assert_eq!(worker.start_time, anchor() + Duration::from_micros(13_000));

    // A second trace gets a trace id of its own.
    with_span("agent", "again", async move {
        model
            .generate(ModelRequest::new("planner").user("plan"))
            .await
            .unwrap();
    })
    .await;
    assert!(model.flush().await.is_clean());
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 6);
    assert_ne!(spans[5].span_context.trace_id(), trace_id);
}

/// Without an anchor, a trace is anchored at its delivery (it ends when it
/// was delivered): whatever the wall clock says, every span keeps its
/// recorded offset and length.
#[tokio::test(start_paused = true)]
async fn without_an_anchor_the_recorded_offsets_and_lengths_are_kept() {
    let (model, traces, exporter) = recorder(
        ScriptedModel::new(Script::new().part_after(ms(40), StreamPart::text("ok"))),
        OtelOptions::new(),
    );
    let before_delivery = SystemTime::now();
    with_span("turn", "t", async {
        tokio::time::sleep(ms(7)).await;
        model
            .generate(ModelRequest::new("m").user("hi"))
            .await
            .unwrap();
    })
    .await;
    assert!(model.flush().await.is_clean());
    let after_export = SystemTime::now();
    let trace = only_trace(&traces);
    let spans = exporter.get_finished_spans().unwrap();
    let root = named(&spans, "turn");
    let chat = named(&spans, "chat m");
    let call = trace.llm_spans().next().unwrap();
    // The trace ends at its delivery: on the wall clock, between the moment
    // before it was recorded and the moment after it was exported.
    assert!(
        before_delivery <= root.end_time && root.end_time <= after_export,
        "{before_delivery:?} <= {:?} <= {after_export:?}",
        root.end_time
    );
    assert_times_exact(root, trace.root(), root.start_time);
    assert_times_exact(chat, call, root.start_time);
    assert_eq!(
        chat.start_time.duration_since(root.start_time).unwrap(),
        ms(7)
    );
}

/// A call that fails mid-stream: status Error, `error.type` from the
/// provider's error type; the task above it is not an error.
#[tokio::test(start_paused = true)]
async fn an_errored_call_exports_error_status_and_type() {
    let script = Script::new()
        .part(StreamPart::StreamStart)
        .part_after(ms(250), StreamPart::text("par"))
        .error_after(
            ms(50),
            ModelError::Provider {
                provider: "anthropic".into(),
                kind: "overloaded_error".into(),
                message: "Overloaded".into(),
            },
        );
    let (model, _traces, exporter) = recorder(
        ScriptedModel::new(script),
        OtelOptions::new().anchor(anchor()),
    );
    with_span("turn", "t", async {
        let mut parts = model
            .stream(ModelRequest::new("claude-x").user("hi"))
            .await
            .unwrap();
        while parts.next().await.is_some() {}
    })
    .await;
    assert!(model.flush().await.is_clean());

    let spans = exporter.get_finished_spans().unwrap();
    let chat = named(&spans, "chat claude-x");
    assert!(
        matches!(&chat.status, Status::Error { description } if description.contains("Overloaded")),
        "{:?}",
        chat.status
    );
    assert_eq!(
        string(chat, "error.type").as_deref(),
        Some("overloaded_error")
    );
    assert_eq!(string(chat, "tracedeck.status").as_deref(), Some("error"));
    assert_eq!(
        float(chat, "gen_ai.response.time_to_first_chunk"),
        Some(0.25)
    );
    assert_eq!(attr(chat, "gen_ai.usage.input_tokens"), None);
    let root = named(&spans, "turn");
    assert_eq!(root.status, Status::Unset);
    assert_eq!(attr(root, "error.type"), None);
}

/// Part events, when asked for: one per streamed part, at its recorded
/// arrival, with its kind.
#[tokio::test(start_paused = true)]
async fn part_events_mark_each_part_at_its_recorded_arrival() {
    let script = Script::new()
        .open_after(ms(100))
        .part(StreamPart::StreamStart)
        .part_after(ms(50), StreamPart::text("a"))
        .part_after(ms(25), StreamPart::text("b"));
    let (model, traces, exporter) = recorder(
        ScriptedModel::new(script),
        OtelOptions::new().anchor(anchor()).part_events(true),
    );
    let mut parts = model
        .stream(ModelRequest::new("m").user("hi"))
        .await
        .unwrap();
    while parts.next().await.is_some() {}
    drop(parts);
    assert!(model.flush().await.is_clean());

    let trace = only_trace(&traces);
    let call = trace.llm_spans().next().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let chat = named(&spans, "chat m");
    assert_eq!(chat.events.len(), call.parts.len());
    let start = anchor() + Duration::from_micros(call.timing.start_us);
    for (event, part) in chat.events.iter().zip(&call.parts) {
        assert_eq!(event.name, "tracedeck.part");
        assert_eq!(
            event.timestamp,
            start + Duration::from_micros(part.offset_us)
        );
    }
    let offsets: Vec<u64> = call.parts.iter().map(|p| p.offset_us).collect();
    assert_eq!(offsets[..3], [100_000, 150_000, 175_000]);
    let kind = |i: usize| {
        chat.events[i]
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "tracedeck.part.type")
            .map(|kv| kv.value.as_str().into_owned())
    };
    assert_eq!(kind(0).as_deref(), Some("stream_start"));
    assert_eq!(kind(1).as_deref(), Some("text_delta"));
}

/// Content, when asked for: input, output and system instructions as JSON,
/// with the redaction applied before export.
#[tokio::test(start_paused = true)]
async fn content_is_exported_only_when_asked_and_redacted() {
    let redaction = Redaction::new().path("/messages/*/content/*/text");
    let (model, _traces, exporter) = recorder(
        ScriptedModel::new(Script::text("the answer")),
        OtelOptions::new().anchor(anchor()).content(redaction),
    );
    let mut request = ModelRequest::new("m").user("my secret is 1234");
    request.system = Some("be brief".into());
    model.generate(request).await.unwrap();
    assert!(model.flush().await.is_clean());

    let spans = exporter.get_finished_spans().unwrap();
    let chat = named(&spans, "chat m");
    let input = string(chat, "gen_ai.input.messages").expect("input messages");
    assert!(!input.contains("1234"), "{input}");
    let input: serde_json::Value = serde_json::from_str(&input).unwrap();
    assert_eq!(input[0]["role"], "user");
    assert_eq!(
        input,
        serde_json::json!([{
            "role": "user",
            "parts": [{ "type": "text", "content": "[REDACTED]" }]
        }])
    );
    let system: serde_json::Value =
        serde_json::from_str(&string(chat, "gen_ai.system_instructions").unwrap()).unwrap();
    assert_eq!(
        system,
        serde_json::json!([{ "type": "text", "content": "be brief" }])
    );
    let output: serde_json::Value =
        serde_json::from_str(&string(chat, "gen_ai.output.messages").unwrap()).unwrap();
    assert_eq!(output[0]["role"], "assistant");
    assert_eq!(
        output[0]["parts"],
        serde_json::json!([{ "type": "text", "content": "the answer" }])
    );

    // Without `content`, none of it is exported (checked for a streamed
    // call in the first test; here for a generated one).
    let (model, _traces, exporter) = recorder(
        ScriptedModel::new(Script::text("the answer")),
        OtelOptions::new().anchor(anchor()),
    );
    model
        .generate(ModelRequest::new("m").user("my secret is 1234"))
        .await
        .unwrap();
    assert!(model.flush().await.is_clean());
    let spans = exporter.get_finished_spans().unwrap();
    let chat = named(&spans, "chat m");
    assert_eq!(attr(chat, "gen_ai.input.messages"), None);
    assert_eq!(attr(chat, "gen_ai.output.messages"), None);
}

/// An exporter that refuses every batch.
#[derive(Debug)]
struct Refusing;

impl SpanExporter for Refusing {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Err(OTelSdkError::InternalFailure(
            "collector unreachable".into(),
        ))
    }
}

/// A failed export never fails the call; the next flush reports it, one
/// error per lost trace, with the exporter's error as the source.
#[tokio::test(start_paused = true)]
async fn failed_exports_are_reported_by_flush_and_never_fail_a_call() {
    let sink = OtelSink::with_options(Refusing, OtelOptions::new().anchor(anchor()));
    let model = Recorder::new(ScriptedModel::new(Script::text("ok")), sink.clone());
    for _ in 0..2 {
        model
            .generate(ModelRequest::new("m").user("hi"))
            .await
            .unwrap();
    }
    let report = model.flush().await;
    assert!(!report.is_clean());
    assert_eq!(report.lost, 2, "{report:?}");
    assert_eq!(report.errors.len(), 2, "{report:?}");
    for error in &report.errors {
        assert!(matches!(error, SinkError::Write { .. }), "{error:?}");
        assert!(
            error.to_string().contains("collector unreachable"),
            "{error}"
        );
        assert!(std::error::Error::source(error).is_some(), "{error:?}");
    }
    assert_eq!(sink.stats().failed, 2);
    assert!(model.flush().await.is_clean());
}

/// One OTLP/HTTP request as the loopback receiver got it.
#[derive(Debug)]
struct Received {
    path: String,
    content_type: String,
    body: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
}

/// A loopback OTLP/HTTP receiver: answers every request with 200 and hands
/// its decoded protobuf body to the returned channel.
fn otlp_receiver() -> (String, std::sync::mpsc::Receiver<Received>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                    let (mut length, mut content_type) = (0usize, String::new());
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        let (name, value) = header.split_once(':').unwrap();
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => length = value.trim().parse().unwrap(),
                            "content-type" => content_type = value.trim().to_owned(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let body = prost::Message::decode(body.as_slice()).unwrap();
                    writer
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
                        )
                        .unwrap();
                    let _ = tx.send(Received {
                        path,
                        content_type,
                        body,
                    });
                }
            });
        }
    });
    (format!("http://{addr}/v1/traces"), rx)
}

/// A real OTLP/HTTP export: the protobuf request that reaches a loopback
/// receiver holds the same spans, ids, times and attributes as the
/// in-memory exporter sees.
#[test]
fn an_otlp_http_export_delivers_the_same_spans_to_a_collector() {
    // This workspace's dev-dependencies enable reqwest 0.13's rustls with no
    // default crypto provider (for object_store's S3 test): pick one, as an
    // application with that setup would.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (endpoint, received) = otlp_receiver();
    let sink = OtelSink::otlp_http(&endpoint, OtelOptions::new().anchor(anchor())).unwrap();
    let traces = Collector::new();
    let script = Script::new()
        .open_after(ms(800))
        .part(StreamPart::StreamStart)
        .part_after(ms(400), StreamPart::text("Hello"));
    let model = Recorder::new(
        ScriptedModel::new(script).with_info(ModelInfo::new("openai", "gpt-test")),
        Tee::new(traces.clone()).and(sink.clone()),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    // Everything, the last drop of the sink (and its blocking HTTP client)
    // included, happens on the runtime's thread, as in a service.
    runtime.block_on(async move {
        with_span("turn", "t", async {
            let mut parts = model
                .stream(ModelRequest::new("gpt-test").user("hi"))
                .await
                .unwrap();
            while parts.next().await.is_some() {}
        })
        .await;
        let report = model.flush().await;
        assert!(report.is_clean(), "{report:?}");
        drop(model);
        drop(sink);
    });
    drop(runtime);

    let request = received
        .recv_timeout(Duration::from_secs(30))
        .expect("the receiver got the export");
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(request.content_type, "application/x-protobuf");
    let scope_spans = &request.body.resource_spans[0].scope_spans[0];
    assert_eq!(scope_spans.scope.as_ref().unwrap().name, "tracedeck");
    let spans = &scope_spans.spans;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let find = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    let root = find("turn");
    let chat = find("chat gpt-test");
    assert_eq!(chat.trace_id, root.trace_id);
    assert_eq!(chat.parent_span_id, root.span_id);
    assert!(root.parent_span_id.is_empty());
    let nanos = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let trace = only_trace(&traces);
    let call = trace.llm_spans().next().unwrap();
    let start = anchor() + Duration::from_micros(call.timing.start_us);
    assert_eq!(chat.start_time_unix_nano, nanos(start));
    assert_eq!(
        chat.end_time_unix_nano,
        nanos(start + Duration::from_micros(call.timing.duration_us))
    );
    // SPAN_KIND_CLIENT = 3 in the OTLP protobuf.
    assert_eq!(chat.kind, 3);
    let value = |name: &str| {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        chat.attributes
            .iter()
            .find(|kv| kv.key == name)
            .and_then(|kv| kv.value.as_ref()?.value.clone())
            .map(|v| match v {
                Value::StringValue(s) => s,
                Value::DoubleValue(f) => f.to_string(),
                Value::IntValue(n) => n.to_string(),
                other => format!("{other:?}"),
            })
    };
    assert_eq!(
        value("gen_ai.response.time_to_first_chunk").as_deref(),
        Some("1.2")
    );
    assert_eq!(value("gen_ai.request.model").as_deref(), Some("gpt-test"));
    assert_eq!(value("gen_ai.provider.name").as_deref(), Some("openai"));
    assert_eq!(value("gen_ai.operation.name").as_deref(), Some("chat"));
}
