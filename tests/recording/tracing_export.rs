//! Contract 12 through `tracing`: every recorded span is also a `tracing`
//! span named and attributed as the OpenTelemetry GenAI conventions say,
//! nested as recorded, with the recorded times and a TTFT taken from the
//! first content part, never framing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tracedeck::export::TracingSink;
use tracedeck::model::{FinishReason, ModelInfo, Usage};
use tracedeck::sink::Tee;
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, ModelResponse, Recorder, Script, ScriptedModel,
    Span, StreamPart, Trace, with_span,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A field value as a subscriber sees it, kept with its type.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
}

/// One span as the capturing subscriber saw it.
#[derive(Debug, Clone)]
struct Seen {
    id: u64,
    name: String,
    target: String,
    /// The explicit parent, if one was given.
    parent: Option<u64>,
    /// Whether the span took its parent from the current context instead.
    contextual: bool,
    fields: BTreeMap<String, Val>,
    closed: bool,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&Val> {
        self.fields.get(name)
    }
    fn str(&self, name: &str) -> Option<&str> {
        match self.field(name) {
            Some(Val::Str(s)) => Some(s),
            _ => None,
        }
    }
    fn u64(&self, name: &str) -> Option<u64> {
        match self.field(name) {
            Some(Val::U64(n)) => Some(*n),
            _ => None,
        }
    }
    fn f64(&self, name: &str) -> Option<f64> {
        match self.field(name) {
            Some(Val::F64(n)) => Some(*n),
            _ => None,
        }
    }
}

/// A `tracing` subscriber that keeps every span it is given, with its
/// name, fields and explicit parent.
#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<Seen>>>,
    next_id: Arc<AtomicU64>,
}

impl Capture {
    fn spans(&self) -> Vec<Seen> {
        self.spans.lock().unwrap().clone()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, Val>);

impl Visit for Fields<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Val::U64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Val::I64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Val::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Val::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Val::Str(value.to_owned()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Val::Str(format!("{value:?}")));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = BTreeMap::new();
        span.record(&mut Fields(&mut fields));
        self.spans.lock().unwrap().push(Seen {
            id,
            name: span.metadata().name().to_owned(),
            target: span.metadata().target().to_owned(),
            parent: span.parent().map(Id::into_u64),
            contextual: span.is_contextual(),
            fields,
            closed: false,
        });
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
    fn try_close(&self, id: Id) -> bool {
        let mut spans = self.spans.lock().unwrap();
        if let Some(seen) = spans.iter_mut().find(|s| s.id == id.into_u64()) {
            seen.closed = true;
        }
        true
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A recorder over `model` feeding both a collector and a `TracingSink`.
fn recorder(model: ScriptedModel) -> (Recorder<ScriptedModel>, Collector) {
    let traces = Collector::new();
    let rec = Recorder::new(model, Tee::new(traces.clone()).and(TracingSink::new()));
    (rec, traces)
}

fn only_trace(traces: &Collector) -> Trace {
    let [trace] = traces.traces().try_into().expect("exactly one trace");
    trace
}

fn named<'a>(seen: &'a [Seen], name: &str) -> &'a Seen {
    let found: Vec<&Seen> = seen.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one span named {name:?} in {seen:#?}");
    found[0]
}

/// The `tracing` span's recorded times and ids match the recorded span.
fn assert_times_match(seen: &Seen, span: &Span) {
    assert_eq!(seen.u64("tracedeck.start_us"), Some(span.timing.start_us));
    assert_eq!(
        seen.u64("tracedeck.duration_us"),
        Some(span.timing.duration_us)
    );
    assert_eq!(seen.u64("tracedeck.span_id"), Some(span.id.0));
    assert_eq!(seen.str("tracedeck.key"), Some(span.key.as_str()));
}

/// The issue's scenario: the stream opens at 800 ms with stream start,
/// metadata and a role-only delta (all framing), and the first text comes
/// at 1.2 s. An exporter taking TTFT from the first part would say 0.8.
#[tokio::test(start_paused = true)]
async fn a_streamed_call_exports_ttft_from_the_first_content_part_and_every_gen_ai_attribute() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let script = crate::export_scenario::framing_then_content();
    let (model, traces) =
        recorder(ScriptedModel::new(script).with_info(ModelInfo::new("openai", "gpt-test")));
    let mut request = ModelRequest::new("gpt-test")
        .user("hi")
        .temperature(0.25)
        .max_tokens(256);
    request.settings.top_p = Some(0.9);
    request.settings.seed = Some(7);
    request.settings.stop = vec!["END".into()];
    with_span("turn", "t", async {
        let mut parts = model.stream(request).await.unwrap();
        while parts.next().await.is_some() {}
    })
    .await;
    assert!(model.flush().await.is_clean());

    let trace = only_trace(&traces);
    let call = trace.llm_spans().next().unwrap();
    assert_eq!(call.timing.first_part_us, Some(800_000));
    assert_eq!(call.timing.ttft_us, Some(1_200_000));

    let seen = capture.spans();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    let root = named(&seen, "turn");
    let chat = named(&seen, "chat gpt-test");
    assert_eq!(chat.target, "tracedeck::export");
    assert_eq!(chat.parent, Some(root.id));
    assert!(!chat.contextual && !root.contextual);
    assert_eq!(root.parent, None);

    // TTFT: exactly 1.2 s, the first text, not 0.8 s, the framing.
    assert_eq!(chat.f64("gen_ai.response.time_to_first_chunk"), Some(1.2));

    assert_eq!(chat.str("otel.name"), Some("chat gpt-test"));
    assert_eq!(chat.str("otel.kind"), Some("client"));
    assert_eq!(chat.str("gen_ai.operation.name"), Some("chat"));
    assert_eq!(chat.str("gen_ai.provider.name"), Some("openai"));
    assert_eq!(chat.str("gen_ai.request.model"), Some("gpt-test"));
    assert_eq!(chat.f64("gen_ai.request.temperature"), Some(0.25));
    assert_eq!(chat.u64("gen_ai.request.max_tokens"), Some(256));
    assert_eq!(chat.f64("gen_ai.request.top_p"), Some(0.9));
    assert_eq!(chat.u64("gen_ai.request.seed"), Some(7));
    assert_eq!(
        chat.str("gen_ai.request.stop_sequences"),
        Some(r#"["END"]"#)
    );
    assert_eq!(chat.field("gen_ai.request.top_k"), None);
    assert_eq!(chat.str("gen_ai.response.id"), Some("resp_42"));
    assert_eq!(
        chat.str("gen_ai.response.model"),
        Some("gpt-test-2025-01-01")
    );
    assert_eq!(
        chat.str("gen_ai.response.finish_reasons"),
        Some(r#"["length"]"#)
    );
    assert_eq!(chat.u64("gen_ai.usage.input_tokens"), Some(12));
    assert_eq!(chat.u64("gen_ai.usage.output_tokens"), Some(7));
    assert_eq!(chat.u64("gen_ai.usage.cache_read.input_tokens"), Some(4));
    assert_eq!(
        chat.u64("gen_ai.usage.cache_creation.input_tokens"),
        Some(2)
    );
    assert_eq!(chat.u64("gen_ai.usage.reasoning.output_tokens"), Some(3));
    assert_eq!(chat.str("tracedeck.status"), Some("ok"));
    assert_eq!(chat.field("error.type"), None);
    assert_eq!(chat.field("otel.status_code"), None);
    assert_times_match(chat, call);
    assert_eq!(chat.u64("tracedeck.duration_us"), Some(1_235_000));
    assert_times_match(root, trace.root());

    // The task span: named by its key, no GenAI attributes.
    assert_eq!(root.str("otel.kind"), Some("internal"));
    assert!(
        !root.fields.keys().any(|k| k.starts_with("gen_ai.")),
        "{root:#?}"
    );
    // Every exported span is closed once emitted.
    assert!(seen.iter().all(|s| s.closed), "{seen:#?}");
}

/// Tasks within tasks and several calls: each `tracing` span has its
/// recorded parent, set explicitly, and parents are made before children.
#[tokio::test(start_paused = true)]
async fn spans_nest_as_recorded_task_then_subtask_then_calls() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let (model, traces) = recorder(ScriptedModel::new(
        Script::new().part_after(ms(10), StreamPart::text("ok")),
    ));
    let model = &model;
    with_span("agent", "go", async move {
        model
            .generate(ModelRequest::new("planner").user("plan"))
            .await
            .unwrap();
        with_span("tool-step", "search", async move {
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
    let seen = capture.spans();
    assert_eq!(seen.len(), trace.spans.len());
    let agent = named(&seen, "agent");
    let step = named(&seen, "tool-step");
    let planner = named(&seen, "chat planner");
    let worker = named(&seen, "chat worker");
    assert_eq!(agent.parent, None);
    assert_eq!(planner.parent, Some(agent.id));
    assert_eq!(step.parent, Some(agent.id));
    assert_eq!(worker.parent, Some(step.id));
    // Made parent first: the subscriber's ids grow down the tree.
    assert!(agent.id < step.id && step.id < worker.id);
    for seen_span in &seen {
        let id = seen_span.u64("tracedeck.span_id").unwrap();
        let span = trace.span(tracedeck::span::SpanId(id)).unwrap();
        assert_times_match(seen_span, span);
    }
    assert_eq!(worker.u64("tracedeck.start_us"), Some(10_000));
}

/// A call that fails mid-stream: status error with `error.type` from the
/// provider's error, the partial output's TTFT still exported.
#[tokio::test(start_paused = true)]
async fn an_errored_call_exports_error_type_and_status() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
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
    let (model, _traces) = recorder(ScriptedModel::new(script));
    with_span("turn", "t", async {
        let mut parts = model
            .stream(ModelRequest::new("claude-x").user("hi"))
            .await
            .unwrap();
        while parts.next().await.is_some() {}
    })
    .await;
    assert!(model.flush().await.is_clean());

    let seen = capture.spans();
    let chat = named(&seen, "chat claude-x");
    assert_eq!(chat.str("error.type"), Some("overloaded_error"));
    assert_eq!(chat.str("otel.status_code"), Some("ERROR"));
    assert_eq!(chat.str("tracedeck.status"), Some("error"));
    assert_eq!(chat.f64("gen_ai.response.time_to_first_chunk"), Some(0.25));
    assert_eq!(chat.field("gen_ai.usage.input_tokens"), None);
    let root = named(&seen, "turn");
    assert_eq!(root.field("error.type"), None);

    // An HTTP failure to open: `error.type` is the status code.
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let (model, _traces) = recorder(ScriptedModel::new(Script::new().fail_to_open(
        ModelError::Http {
            provider: "openai".into(),
            status: 429,
            message: "slow down".into(),
            retry_after_ms: None,
        },
    )));
    with_span("turn", "t", async {
        assert!(
            model
                .stream(ModelRequest::new("m").user("hi"))
                .await
                .is_err()
        );
    })
    .await;
    let seen = capture.spans();
    let chat = named(&seen, "chat m");
    assert_eq!(chat.str("error.type"), Some("429"));
    assert_eq!(chat.field("gen_ai.response.time_to_first_chunk"), None);
}

/// `generate` has no parts and no TTFT: the attribute is absent, while the
/// response's usage and finish reason are there.
#[tokio::test(start_paused = true)]
async fn a_non_streaming_call_has_no_time_to_first_chunk() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let mut response = ModelResponse::text(ModelInfo::new("scripted", "served-model"), "hi");
    response.usage = Some(Usage::new(3, 1));
    response.finish_reason = Some(FinishReason::stop());
    let script = Script::new()
        .open_after(ms(300))
        .part(StreamPart::text("hi"))
        .respond_with(response);
    let (model, traces) = recorder(ScriptedModel::new(script));
    with_span("turn", "t", async {
        model
            .generate(ModelRequest::new("m").user("hi"))
            .await
            .unwrap();
    })
    .await;

    let trace = only_trace(&traces);
    let call = trace.llm_spans().next().unwrap();
    assert!(!call.streamed);
    let seen = capture.spans();
    let chat = named(&seen, "chat m");
    assert_eq!(chat.field("gen_ai.response.time_to_first_chunk"), None);
    assert_eq!(chat.field("gen_ai.response.id"), None);
    assert_eq!(chat.str("gen_ai.response.model"), Some("served-model"));
    assert_eq!(
        chat.str("gen_ai.response.finish_reasons"),
        Some(r#"["stop"]"#)
    );
    assert_eq!(chat.u64("gen_ai.usage.input_tokens"), Some(3));
    assert_eq!(chat.u64("gen_ai.usage.output_tokens"), Some(1));
    assert_eq!(chat.field("gen_ai.usage.cache_read.input_tokens"), None);
    assert_eq!(chat.u64("tracedeck.duration_us"), Some(300_000));
    assert_times_match(chat, call);
}

/// Export never fails a call: with no subscriber at all, or one that
/// refuses every span, the trace still reaches the other sinks and the
/// flush is clean.
#[tokio::test(start_paused = true)]
async fn without_an_interested_subscriber_nothing_is_emitted_and_nothing_fails() {
    struct Refuses(Capture);
    impl Subscriber for Refuses {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            false
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            self.0.new_span(span)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(Refuses(capture.clone()));
    let (model, traces) = recorder(ScriptedModel::new(Script::text("hi")));
    with_span("turn", "t", async {
        model
            .generate(ModelRequest::new("m").user("hi"))
            .await
            .unwrap();
    })
    .await;
    assert!(model.flush().await.is_clean());
    assert_eq!(traces.len(), 1);
    assert!(capture.spans().is_empty());
}

/// Two recorders, each with its own `TracingSink`, in one trace: every
/// `TracingSink` emits to the same dispatcher, so the trace is emitted once.
#[tokio::test(start_paused = true)]
async fn a_trace_through_two_recorders_is_emitted_once() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let first = Recorder::new(ScriptedModel::new(Script::text("a")), TracingSink::new());
    let second = Recorder::new(ScriptedModel::new(Script::text("b")), TracingSink::new());
    with_span("turn", "t", async {
        first
            .generate(ModelRequest::new("one").user("hi"))
            .await
            .unwrap();
        second
            .generate(ModelRequest::new("two").user("hi"))
            .await
            .unwrap();
    })
    .await;
    let seen = capture.spans();
    let names: Vec<&str> = seen.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["turn", "chat one", "chat two"]);
}
