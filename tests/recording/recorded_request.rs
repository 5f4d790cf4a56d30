//! A call's span input is its full request, however the call goes and ends.
//!
//! The recorder keeps a copy of the request, typed, when the call is made,
//! and the response its parts add up to when it ends; neither becomes JSON
//! on the call's task. The JSON is built when the finished trace is first
//! read (a store's writer thread, a test reading a `Collector`), once for
//! every sink the trace went to. These tests pin that the deferred JSON
//! always lands: for calls that answer at once and calls that wait, and for
//! every way a span ends (finished, failed, cancelled, dropped before it was
//! ever polled); and that it is built on first read, not before, and once.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use tokio::time::timeout;
use tracedeck::model::{Message, ToolDefinition};
use tracedeck::model::{ModelInfo, ResponseAccumulator};
use tracedeck::sink::Tee;
use tracedeck::span::SpanStatus;
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, Recorder, Script, ScriptedModel, StreamPart, Trace,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A request using every field, so a lost or partial input shows.
fn request() -> ModelRequest {
    ModelRequest::new("gpt-4o-mini")
        .system("Answer briefly.")
        .user("What is the weather in Paris?")
        .message(Message::assistant("Let me check."))
        .tool(ToolDefinition::new(
            "weather",
            "Current weather for a city",
            json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        ))
        .temperature(0.3)
        .max_tokens(64)
        .extra("user", json!("u-42"))
}

/// A script that answers at once, or one where opening and every part wait.
fn script(waits: bool) -> Script {
    let delay = if waits { ms(5) } else { Duration::ZERO };
    Script::new()
        .open_after(delay)
        .part_after(delay, StreamPart::text("Sunny"))
        .part_after(
            delay,
            StreamPart::finish(tracedeck::model::FinishReason::stop()),
        )
}

fn recorder(script: Script) -> (Recorder<ScriptedModel>, Collector) {
    let traces = Collector::new();
    (
        Recorder::new(ScriptedModel::new(script), traces.clone()),
        traces,
    )
}

/// The one recorded call, after checking its input is the whole request.
fn only_call(traces: &Collector) -> tracedeck::Span {
    let traces: Vec<Trace> = traces.traces();
    assert_eq!(traces.len(), 1, "one trace: {traces:#?}");
    let call = traces[0].root().clone();
    assert_eq!(call.input, serde_json::to_value(request()).unwrap());
    assert_eq!(call.request(), Some(request()));
    call
}

#[tokio::test(start_paused = true)]
async fn a_generate_that_answers_at_once_records_its_request() {
    let (model, traces) = recorder(script(false));
    model.generate(request()).await.unwrap();
    assert_eq!(only_call(&traces).status, SpanStatus::Ok);
}

#[tokio::test(start_paused = true)]
async fn a_generate_that_waits_records_its_request() {
    let (model, traces) = recorder(script(true));
    model.generate(request()).await.unwrap();
    assert_eq!(only_call(&traces).status, SpanStatus::Ok);
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_answers_at_once_records_its_request() {
    let (model, traces) = recorder(script(false));
    let parts: Vec<_> = model.stream(request()).await.unwrap().collect().await;
    assert_eq!(parts.len(), 2);
    let call = only_call(&traces);
    assert_eq!((call.status, call.parts.len()), (SpanStatus::Ok, 2));
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_waits_records_its_request() {
    let (model, traces) = recorder(script(true));
    let parts: Vec<_> = model.stream(request()).await.unwrap().collect().await;
    assert_eq!(parts.len(), 2);
    let call = only_call(&traces);
    assert_eq!(
        (call.status, call.timing.ttft_us),
        (SpanStatus::Ok, Some(10_000))
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_dropped_before_its_first_part_records_its_request() {
    let (model, traces) = recorder(script(true));
    let parts = model.stream(request()).await.unwrap();
    drop(parts);
    assert_eq!(only_call(&traces).status, SpanStatus::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_fails_to_open_records_its_request() {
    let (model, traces) = recorder(script(false).fail_to_open(ModelError::other("refused")));
    assert!(model.stream(request()).await.is_err());
    assert_eq!(only_call(&traces).status, SpanStatus::Error);
}

#[tokio::test(start_paused = true)]
async fn a_generate_abandoned_while_waiting_records_its_request() {
    let (model, traces) = recorder(script(true));
    assert!(timeout(ms(1), model.generate(request())).await.is_err());
    assert_eq!(only_call(&traces).status, SpanStatus::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_before_it_was_ever_polled_records_its_request() {
    let (model, traces) = recorder(script(false));
    drop(model.stream(request()));
    assert_eq!(only_call(&traces).status, SpanStatus::Cancelled);
}

/// The response the script's parts add up to, as the recorder summarizes it.
fn summary(model: ModelInfo) -> serde_json::Value {
    let mut acc = ResponseAccumulator::new(model);
    for part in [
        StreamPart::text("Sunny"),
        StreamPart::finish(tracedeck::model::FinishReason::stop()),
    ] {
        acc.push(&part);
    }
    serde_json::to_value(acc.finish()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_calls_json_is_built_when_the_trace_is_first_read_not_on_the_calls_task() {
    let (model, traces) = recorder(script(false));
    let parts: Vec<_> = model.stream(request()).await.unwrap().collect().await;
    assert_eq!(parts.len(), 2);
    let [trace] = <[Trace; 1]>::try_from(traces.traces()).unwrap();
    let call = trace.root();
    let output = call.output.as_ref().expect("a streamed call's summary");
    assert!(!call.input.is_built(), "the request is still typed");
    assert!(!output.is_built(), "the summary is still typed");
    // The typed request and response (what exporters read) need no JSON.
    assert_eq!(call.request(), Some(request()));
    let response = call.response().expect("the summary decodes");
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        summary(model.info())
    );
    assert!(!call.input.is_built() && !output.is_built());

    assert_eq!(call.input, serde_json::to_value(request()).unwrap());
    assert_eq!(*output, summary(model.info()));
    assert!(call.input.is_built() && output.is_built());
    // As the cassette writes it: the same text as JSON built at once.
    let eager: Trace = serde_json::from_str(&serde_json::to_string(&trace).unwrap()).unwrap();
    assert!(eager.root().input.is_built());
    assert_eq!(
        serde_json::to_string_pretty(&eager).unwrap(),
        serde_json::to_string_pretty(&trace).unwrap()
    );
    assert_eq!(eager, trace);
}

#[tokio::test(start_paused = true)]
async fn a_generate_keeps_its_response_typed_until_read() {
    let (model, traces) = recorder(script(false));
    let response = model.generate(request()).await.unwrap();
    let call = only_call(&traces);
    let output = call.output.as_ref().unwrap();
    assert!(!output.is_built());
    assert_eq!(*output, serde_json::to_value(&response).unwrap());
    assert_eq!(call.response(), Some(response));
}

#[tokio::test(start_paused = true)]
async fn a_trace_handed_to_two_sinks_is_turned_into_json_once() {
    let (first, second) = (Collector::new(), Collector::new());
    let model = Recorder::new(
        ScriptedModel::new(script(false)),
        Tee::new(first.clone()).and(second.clone()),
    );
    let _: Vec<_> = model.stream(request()).await.unwrap().collect().await;
    let (a, b) = (first.traces(), second.traces());
    assert!(!b[0].root().input.is_built());
    // Reading the first sink's trace builds the JSON the second one holds too.
    assert_eq!(a[0].root().input, serde_json::to_value(request()).unwrap());
    assert!(b[0].root().input.is_built());
    assert!(b[0].root().output.as_ref().is_some_and(|o| !o.is_built()));
    assert_eq!(
        **a[0].root().output.as_ref().unwrap(),
        summary(model.info())
    );
    assert!(b[0].root().output.as_ref().is_some_and(|o| o.is_built()));
}
