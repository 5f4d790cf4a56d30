//! Contract 2, timing: offsets from the call (t0) in integer microseconds on
//! tokio's clock; TTFT is the first *content* part, never framing; `opened`
//! and `first_part` are kept beside it; non-streaming calls have no TTFT.

use std::time::Duration;

use futures::StreamExt;
use proptest::prelude::*;
use tracedeck::model::Role;
use tracedeck::testing::{Step, run_paused, strategies};
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, Recorder, Script, ScriptedModel, Span, StreamPart,
    Trace, with_span,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).expect("test durations fit in u64")
}

fn request() -> ModelRequest {
    ModelRequest::new("m").user("hi")
}

/// Streams one call through a fresh recorder inside a root span, reading
/// every item, and returns the trace.
async fn record_stream(script: Script) -> Trace {
    let traces = Collector::new();
    let model = Recorder::new(ScriptedModel::new(script), traces.clone());
    with_span("turn", "t", async {
        if let Ok(mut parts) = model.stream(request()).await {
            while parts.next().await.is_some() {}
        }
    })
    .await;
    let [trace] = traces.traces().try_into().expect("exactly one trace");
    trace
}

fn only_call(trace: &Trace) -> &Span {
    let [call] = trace
        .llm_spans()
        .collect::<Vec<_>>()
        .try_into()
        .expect("exactly one llm span");
    call
}

/// The scenario: 800 ms to open, then stream start, metadata and a
/// role-only delta at once, and the first text 400 ms later.
#[tokio::test(start_paused = true)]
async fn ttft_is_the_first_text_not_the_framing_that_arrives_with_the_open() {
    let script = Script::new()
        .open_after(ms(800))
        .part(StreamPart::StreamStart)
        .part(StreamPart::ResponseMetadata {
            id: Some("resp_1".into()),
            model: Some("scripted-model".into()),
        })
        .part(StreamPart::RoleDelta {
            role: Role::Assistant,
        })
        .part_after(ms(400), StreamPart::text("Hello"))
        .part_after(ms(20), StreamPart::text(" world"))
        .part_after(
            ms(5),
            StreamPart::finish(tracedeck::model::FinishReason::stop()),
        );
    let trace = record_stream(script).await;
    let call = only_call(&trace);

    assert_eq!(call.timing.opened_us, Some(800_000));
    assert_eq!(call.timing.first_part_us, Some(800_000));
    assert_eq!(call.timing.ttft_us, Some(1_200_000));
    assert_eq!(call.timing.duration_us, 1_225_000);
    let offsets: Vec<u64> = call.parts.iter().map(|p| p.offset_us).collect();
    assert_eq!(
        offsets,
        [800_000, 800_000, 800_000, 1_200_000, 1_220_000, 1_225_000]
    );
    assert_eq!(call.response().unwrap().text, "Hello world");
}

/// The consumer itself sees the first text 1.2 s after the call.
#[tokio::test(start_paused = true)]
async fn the_consumer_sees_the_first_text_at_the_recorded_ttft() {
    let script = Script::new()
        .open_after(ms(800))
        .part(StreamPart::StreamStart)
        .part(StreamPart::RoleDelta {
            role: Role::Assistant,
        })
        .part_after(ms(400), StreamPart::text("Hello"));
    let traces = Collector::new();
    let model = Recorder::new(ScriptedModel::new(script), traces.clone());
    let t0 = tokio::time::Instant::now();
    let mut parts = model.stream(request()).await.unwrap();
    let mut first_text_at = None;
    while let Some(part) = parts.next().await {
        if part.unwrap().is_content() && first_text_at.is_none() {
            first_text_at = Some(t0.elapsed());
        }
    }
    drop(parts);
    assert_eq!(first_text_at, Some(ms(1_200)));
    let recorded = traces.traces()[0].root().timing.ttft_us;
    assert_eq!(recorded, Some(1_200_000));
}

/// A call's offsets are from the call, its start from the trace's start.
#[tokio::test(start_paused = true)]
async fn call_offsets_count_from_the_call_and_its_start_from_the_trace() {
    let traces = Collector::new();
    let script = Script::new()
        .open_after(ms(100))
        .part_after(ms(50), StreamPart::text("x"));
    let model = Recorder::new(ScriptedModel::new(script), traces.clone());
    with_span("turn", "t", async {
        tokio::time::sleep(ms(250)).await;
        let mut parts = model.stream(request()).await.unwrap();
        while parts.next().await.is_some() {}
    })
    .await;
    let trace = &traces.traces()[0];
    let call = only_call(trace);
    assert_eq!(call.timing.start_us, 250_000);
    assert_eq!(call.timing.opened_us, Some(100_000));
    assert_eq!(call.timing.ttft_us, Some(150_000));
    assert_eq!(call.timing.duration_us, 150_000);
    assert_eq!(trace.root().timing.duration_us, 400_000);
    assert_eq!(trace.duration_us(), 400_000);
}

/// A stream of framing only has no TTFT, but has `opened` and `first_part`.
#[tokio::test(start_paused = true)]
async fn a_stream_of_framing_only_has_no_ttft() {
    let script = Script::new()
        .open_after(ms(30))
        .part(StreamPart::StreamStart)
        .part_after(ms(10), StreamPart::text(""))
        .part_after(ms(10), StreamPart::KeepAlive)
        .part_after(
            ms(10),
            StreamPart::ToolCallStart {
                id: "c".into(),
                name: String::new(),
            },
        )
        .part_after(
            ms(10),
            StreamPart::finish(tracedeck::model::FinishReason::stop()),
        );
    let trace = record_stream(script).await;
    let call = only_call(&trace);
    assert_eq!(call.timing.opened_us, Some(30_000));
    assert_eq!(call.timing.first_part_us, Some(30_000));
    assert_eq!(call.timing.ttft_us, None);
}

/// A stream that fails to open has neither `opened` nor any part time.
#[tokio::test(start_paused = true)]
async fn a_stream_that_fails_to_open_has_no_open_or_part_times() {
    let script = Script::new()
        .open_after(ms(70))
        .fail_to_open(ModelError::other("refused"));
    let trace = record_stream(script).await;
    let call = only_call(&trace);
    assert_eq!(call.timing.opened_us, None);
    assert_eq!(call.timing.first_part_us, None);
    assert_eq!(call.timing.ttft_us, None);
    assert_eq!(call.timing.duration_us, 70_000);
}

/// Non-streaming calls have no TTFT, no `opened`, no parts.
#[tokio::test(start_paused = true)]
async fn a_generate_call_has_no_ttft() {
    let script = Script::new()
        .open_after(ms(800))
        .part(StreamPart::StreamStart)
        .part_after(ms(400), StreamPart::text("Hello"));
    let traces = Collector::new();
    let model = Recorder::new(ScriptedModel::new(script), traces.clone());
    let answer = model.generate(request()).await.unwrap();
    assert_eq!(answer.text, "Hello");
    let call = traces.traces()[0].root().clone();
    assert!(!call.streamed);
    assert_eq!(call.timing.ttft_us, None);
    assert_eq!(call.timing.opened_us, None);
    assert_eq!(call.timing.first_part_us, None);
    assert!(call.parts.is_empty());
    assert_eq!(call.timing.duration_us, 1_200_000);
}

/// Any script from the strategies, sometimes failing to open.
fn any_script() -> impl Strategy<Value = Script> {
    (strategies::script(), prop::bool::weighted(0.1)).prop_map(|(script, refuse)| {
        if refuse {
            script.fail_to_open(ModelError::other("refused to open"))
        } else {
            script
        }
    })
}

/// The offset from the call of every part a script yields, up to its first error.
fn expected_part_offsets(script: &Script) -> Vec<u64> {
    if script.open_error.is_some() {
        return Vec::new();
    }
    let mut at = script.open_delay;
    let mut offsets = Vec::new();
    for step in &script.steps {
        at += step.delay();
        match step {
            Step::Part { .. } => offsets.push(us(at)),
            Step::Error { .. } => break,
            other => panic!("a step this model does not know: {other:?}"),
        }
    }
    offsets
}

proptest! {
    // Modest case counts keep the suite fast; no regression files are written.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(64)
    })]

    /// For arbitrary scripts, TTFT is the offset of the first content part
    /// (`Script::expected_ttft`), absent when there is none; `opened` and
    /// `first_part` and every part's offset are exact.
    #[test]
    fn ttft_is_the_offset_of_the_first_content_part(script in any_script()) {
        let trace = run_paused(record_stream(script.clone()));
        let call = only_call(&trace);
        let timing = call.timing;

        prop_assert_eq!(timing.ttft_us, script.expected_ttft().map(us));
        let first_content = call.parts.iter().find(|p| p.part.is_content()).map(|p| p.offset_us);
        prop_assert_eq!(timing.ttft_us, first_content);

        let offsets: Vec<u64> = call.parts.iter().map(|p| p.offset_us).collect();
        prop_assert_eq!(&offsets, &expected_part_offsets(&script));
        prop_assert_eq!(timing.first_part_us, offsets.first().copied());
        let opened = script.open_error.is_none().then(|| us(script.open_delay));
        prop_assert_eq!(timing.opened_us, opened);
    }

    /// For arbitrary scripts, a `generate` call never has TTFT, `opened` or
    /// parts, and lasts exactly as long as the script.
    #[test]
    fn generate_never_has_ttft(script in any_script()) {
        let traces = Collector::new();
        let model = Recorder::new(ScriptedModel::new(script.clone()), traces.clone());
        // Called inside the paused runtime, so t0 is on its clock.
        let _ = run_paused(async { model.generate(request()).await });
        let [trace] = traces.traces().try_into().expect("exactly one trace");
        let call = trace.root();
        prop_assert!(!call.streamed && call.parts.is_empty());
        prop_assert_eq!(call.timing.ttft_us, None);
        prop_assert_eq!(call.timing.opened_us, None);
        prop_assert_eq!(call.timing.first_part_us, None);
        prop_assert_eq!(call.timing.duration_us, us(script.duration()));
    }
}
