//! Contract 4, finalization: a span ends exactly once — on finish, on error
//! (status error, partial output kept), or when the consumer drops it early
//! (status cancelled, partial output kept). Nothing is lost, nothing doubled.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use proptest::prelude::*;
use tokio::time::timeout;
use tracedeck::model::FinishReason;
use tracedeck::sink::SinkError;
use tracedeck::span::{SpanId, SpanKind, SpanStatus};
use tracedeck::testing::{run_paused, strategies};
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, Recorder, Script, ScriptedModel, Sink, StreamPart,
    Trace, with_span,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn request() -> ModelRequest {
    ModelRequest::new("m").user("hi")
}

/// A sink that keeps every trace it is handed, counting each hand-over.
#[derive(Default)]
struct CountingSink {
    accepted: Mutex<Vec<Arc<Trace>>>,
}

impl Sink for CountingSink {
    fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError> {
        self.accepted.lock().unwrap().push(trace);
        Ok(())
    }
}

impl CountingSink {
    fn count(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }

    /// The one trace handed over, after checking that it was handed over once
    /// and that each of its spans ended exactly once (ids `0..n`, each once).
    fn only_trace(&self) -> Trace {
        let accepted = self.accepted.lock().unwrap();
        assert_eq!(accepted.len(), 1, "exactly one trace: {accepted:#?}");
        let trace = (*accepted[0]).clone();
        assert_each_span_once(&trace);
        trace
    }
}

fn assert_each_span_once(trace: &Trace) {
    let ids: Vec<SpanId> = trace.spans.iter().map(|s| s.id).collect();
    let expected: Vec<SpanId> = (0..trace.spans.len() as u64).map(SpanId).collect();
    assert_eq!(ids, expected, "each span id exactly once");
}

fn overloaded() -> ModelError {
    ModelError::Provider {
        provider: "scripted".into(),
        kind: "overloaded_error".into(),
        message: "Overloaded".into(),
    }
}

/// A recorder over `script` feeding a fresh counting sink.
fn recorder(script: Script) -> (Recorder<ScriptedModel>, Arc<CountingSink>) {
    let sink = Arc::new(CountingSink::default());
    let model = Recorder::new(ScriptedModel::new(script), Arc::clone(&sink));
    (model, sink)
}

fn llm_span(trace: &Trace) -> &tracedeck::Span {
    trace.llm_spans().next().expect("an llm span")
}

#[tokio::test(start_paused = true)]
async fn an_error_mid_stream_reaches_the_consumer_unchanged_and_the_span_keeps_the_partial_output()
{
    let (model, sink) = recorder(
        Script::new()
            .open_after(ms(100))
            .part_after(ms(10), StreamPart::text("Hel"))
            .part_after(ms(10), StreamPart::text("lo"))
            .error_after(ms(10), overloaded())
            .part_after(ms(10), StreamPart::text("never")),
    );
    let received = with_span("turn", "t", async {
        let parts = model.stream(request()).await.unwrap();
        parts.collect::<Vec<_>>().await
    })
    .await;
    assert_eq!(
        received,
        [
            Ok(StreamPart::text("Hel")),
            Ok(StreamPart::text("lo")),
            Err(overloaded())
        ]
    );

    let trace = sink.only_trace();
    let call = llm_span(&trace);
    assert_eq!(call.status, SpanStatus::Error);
    assert_eq!(call.error, Some(overloaded()));
    assert_eq!(call.parts.len(), 2);
    assert_eq!(call.response().unwrap().text, "Hello");
    assert_eq!(call.timing.duration_us, 130_000);
    assert_eq!(trace.root().status, SpanStatus::Ok);
}

#[tokio::test(start_paused = true)]
async fn a_consumer_that_drops_the_stream_after_two_parts_leaves_a_cancelled_span_with_those_parts()
{
    let (model, sink) = recorder(
        Script::new()
            .open_after(ms(100))
            .part_after(ms(10), StreamPart::text("one "))
            .part_after(ms(10), StreamPart::text("two "))
            .part_after(ms(10), StreamPart::text("three"))
            .part_after(ms(10), StreamPart::finish(FinishReason::stop())),
    );
    with_span("turn", "t", async {
        let mut parts = model.stream(request()).await.unwrap();
        parts.next().await.unwrap().unwrap();
        parts.next().await.unwrap().unwrap();
        tokio::time::sleep(ms(5)).await;
        drop(parts);
    })
    .await;

    let trace = sink.only_trace();
    let call = llm_span(&trace);
    assert_eq!(call.status, SpanStatus::Cancelled);
    assert_eq!(call.error, None);
    let kept: Vec<_> = call.parts.iter().map(|p| p.part.clone()).collect();
    assert_eq!(kept, [StreamPart::text("one "), StreamPart::text("two ")]);
    assert_eq!(call.response().unwrap().text, "one two ");
    assert_eq!(call.timing.duration_us, 125_000, "ends when dropped");
}

/// Dropping right after the finish part cuts nothing short: status ok.
#[tokio::test(start_paused = true)]
async fn a_consumer_that_drops_the_stream_after_the_finish_part_leaves_an_ok_span() {
    let (model, sink) = recorder(Script::text("hi"));
    let mut parts = model.stream(request()).await.unwrap();
    assert_eq!(parts.next().await, Some(Ok(StreamPart::text("hi"))));
    let finish = parts.next().await.unwrap().unwrap();
    assert!(matches!(finish, StreamPart::Finish { .. }));
    drop(parts);

    let trace = sink.only_trace();
    assert_eq!(trace.root().status, SpanStatus::Ok);
    assert_eq!(trace.root().parts.len(), 2);
}

/// A consumer that holds the stream after the finish part, then drops it:
/// the call ended with its last part, so that is where its span ends.
#[tokio::test(start_paused = true)]
async fn a_stream_dropped_long_after_its_finish_ends_at_its_last_part() {
    let script = Script::new()
        .part_after(ms(30), StreamPart::text("hi"))
        .part_after(
            ms(20),
            StreamPart::finish(tracedeck::model::FinishReason::stop()),
        )
        .part_after(
            ms(5),
            StreamPart::Usage {
                usage: tracedeck::model::Usage::new(3, 1),
            },
        );
    let (model, sink) = recorder(script);
    let mut parts = model.stream(request()).await.unwrap();
    for _ in 0..3 {
        parts.next().await.unwrap().unwrap();
    }
    tokio::time::sleep(ms(10_000)).await;
    drop(parts);

    let trace = sink.only_trace();
    assert_eq!(trace.root().status, SpanStatus::Ok);
    assert_eq!(trace.root().timing.duration_us, 55_000);
}

#[tokio::test(start_paused = true)]
async fn a_failing_generate_is_recorded_with_status_error() {
    let (model, sink) = recorder(
        Script::new()
            .open_after(ms(40))
            .part(StreamPart::text("partial"))
            .error_after(ms(10), overloaded()),
    );
    let result = with_span("turn", "t", async { model.generate(request()).await }).await;
    assert_eq!(result, Err(overloaded()));

    let trace = sink.only_trace();
    let call = llm_span(&trace);
    assert!(!call.streamed);
    assert_eq!(call.status, SpanStatus::Error);
    assert_eq!(call.error, Some(overloaded()));
    assert_eq!(call.output, None);
    assert_eq!(call.timing.duration_us, 50_000);
    // with_span sees the task's output is an Err.
    assert_eq!(trace.root().status, SpanStatus::Error);
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_fails_to_open_is_recorded_with_status_error() {
    let (model, sink) = recorder(Script::new().open_after(ms(40)).fail_to_open(overloaded()));
    let opened = model.stream(request()).await;
    assert_eq!(opened.err(), Some(overloaded()));
    let trace = sink.only_trace();
    assert_eq!(trace.root().status, SpanStatus::Error);
    assert_eq!(trace.root().error, Some(overloaded()));
    assert!(trace.root().parts.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_generate_future_dropped_before_it_answers_is_cancelled() {
    let (model, sink) = recorder(Script::text("slow").open_after(ms(1_000)));
    assert!(timeout(ms(10), model.generate(request())).await.is_err());
    let trace = sink.only_trace();
    assert_eq!(trace.root().status, SpanStatus::Cancelled);
    assert_eq!(trace.root().output, None);
    assert_eq!(trace.root().timing.duration_us, 10_000);
}

#[tokio::test(start_paused = true)]
async fn a_stream_dropped_before_it_opens_is_cancelled() {
    let (model, sink) = recorder(Script::text("slow").open_after(ms(1_000)));
    assert!(timeout(ms(10), model.stream(request())).await.is_err());
    let trace = sink.only_trace();
    assert_eq!(trace.root().status, SpanStatus::Cancelled);
    assert_eq!(trace.root().timing.opened_us, None);
}

/// A task dropped mid-call (here by a timeout) cancels its span and the
/// call in flight; the trace is still delivered, once.
#[tokio::test(start_paused = true)]
async fn a_task_dropped_mid_call_cancels_its_span_and_the_call_in_flight() {
    let (model, sink) = recorder(
        Script::new()
            .open_after(ms(50))
            .part_after(ms(20), StreamPart::text("a"))
            .part_after(ms(500), StreamPart::text("b")),
    );
    let task = with_span("turn", "t", async {
        let mut parts = model.stream(request()).await.unwrap();
        while parts.next().await.is_some() {}
    });
    assert!(timeout(ms(100), task).await.is_err());

    let trace = sink.only_trace();
    assert_eq!(trace.root().status, SpanStatus::Cancelled);
    let call = llm_span(&trace);
    assert_eq!(call.status, SpanStatus::Cancelled);
    assert_eq!(call.parts.len(), 1);
    assert_eq!(call.timing.duration_us, 100_000);
}

fn fail_the_task() {
    panic!("the task failed");
}

/// A task that panics while its stream is open ends both spans as error
/// (not cancelled), and the trace is still delivered, once.
#[tokio::test(start_paused = true)]
async fn a_task_that_panics_mid_stream_ends_its_spans_as_error() {
    let (model, sink) = recorder(
        Script::new()
            .part_after(ms(20), StreamPart::text("a"))
            .part_after(ms(500), StreamPart::text("b")),
    );
    let model = Arc::new(model);
    let task = tokio::spawn(with_span("doomed", "d", async move {
        let mut parts = model.stream(request()).await.unwrap();
        parts.next().await;
        fail_the_task();
    }));
    assert!(task.await.unwrap_err().is_panic());

    let trace = sink.only_trace();
    let call = llm_span(&trace);
    for span in [trace.root(), call] {
        assert_eq!(span.status, SpanStatus::Error, "{span:#?}");
        assert_eq!(
            span.error,
            Some(ModelError::other("the span's task panicked"))
        );
    }
    assert_eq!(call.parts.len(), 1);
}

/// Two recorders built on clones of one `Collector` share a trace: it is
/// stored once, not once per recorder.
#[tokio::test(start_paused = true)]
async fn two_recorders_on_clones_of_one_collector_store_a_shared_trace_once() {
    let traces = Collector::new();
    let planner = Recorder::new(ScriptedModel::new(Script::text("plan")), traces.clone());
    let writer = Recorder::new(ScriptedModel::new(Script::text("text")), traces.clone());
    with_span("turn", "t", async {
        planner.generate(request()).await.unwrap();
        writer.generate(request()).await.unwrap();
    })
    .await;
    let all = traces.traces();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_each_span_once(&all[0]);
    assert_eq!(all[0].llm_spans().count(), 2);
    assert_eq!(planner.flush().await.delivered, 1);
}

/// Two recorders on one shared sink hand it a trace once; two recorders on
/// two different sinks hand one copy to each.
#[tokio::test(start_paused = true)]
async fn a_shared_trace_goes_once_to_each_distinct_sink() {
    let shared = Arc::new(CountingSink::default());
    let other = Arc::new(CountingSink::default());
    let a = Recorder::new(ScriptedModel::new(Script::text("a")), Arc::clone(&shared));
    let b = Recorder::new(ScriptedModel::new(Script::text("b")), Arc::clone(&shared));
    let c = Recorder::new(ScriptedModel::new(Script::text("c")), Arc::clone(&other));
    with_span("turn", "t", async {
        a.generate(request()).await.unwrap();
        b.generate(request()).await.unwrap();
        c.generate(request()).await.unwrap();
    })
    .await;
    assert_eq!(shared.only_trace().llm_spans().count(), 3);
    assert_eq!(other.only_trace(), shared.only_trace());
}

/// A task span whose output is an `Err` ends as error; its output is kept.
#[tokio::test(start_paused = true)]
async fn a_task_returning_err_ends_with_status_error() {
    let (model, sink) = recorder(Script::text("x"));
    let out: Result<(), String> = with_span("turn", "t", async {
        model.generate(request()).await.unwrap();
        Err("bad input".to_owned())
    })
    .await;
    assert!(out.is_err());
    let trace = sink.only_trace();
    assert_eq!(trace.root().status, SpanStatus::Error);
    assert_eq!(
        trace.root().output,
        Some(serde_json::json!({"Err": "bad input"}).into())
    );
    assert_eq!(llm_span(&trace).status, SpanStatus::Ok);
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(64)
    })]

    /// For arbitrary scripts and a consumer that stops after `k` items: one
    /// trace, each span once, the parts the consumer got, and the status the
    /// way the stream ended says (error > finished > finish seen > cancelled).
    #[test]
    fn every_way_a_stream_ends_gives_one_span_with_the_right_status(
        script in strategies::script(),
        stop_after in 0usize..16,
        with_generate in any::<bool>(),
    ) {
        let sink = Arc::new(CountingSink::default());
        let model = Recorder::new(ScriptedModel::new(script), Arc::clone(&sink));
        let (received, ended) = run_paused(with_span("turn", "t", async {
            if with_generate {
                let _ = model.generate(request()).await;
            }
            let mut parts = model.stream(request()).await.unwrap();
            let mut received = Vec::new();
            let mut ended = false;
            while received.len() < stop_after {
                match parts.next().await {
                    Some(item) => received.push(item),
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            (received, ended)
        }));
        prop_assert_eq!(sink.count(), 1);
        let trace = sink.only_trace();
        prop_assert_eq!(trace.llm_spans().count(), if with_generate { 2 } else { 1 });
        let call = trace.llm_spans().find(|s| s.streamed).unwrap();
        prop_assert_eq!(call.kind, SpanKind::Llm);

        let got_parts: Vec<StreamPart> = received.iter().filter_map(|i| i.clone().ok()).collect();
        let kept: Vec<StreamPart> = call.parts.iter().map(|p| p.part.clone()).collect();
        prop_assert_eq!(kept, got_parts.clone());

        let failed = received.iter().any(Result::is_err);
        let finish_seen = got_parts.iter().any(|p| matches!(p, StreamPart::Finish { .. }));
        let expected = if failed {
            SpanStatus::Error
        } else if ended || finish_seen {
            SpanStatus::Ok
        } else {
            SpanStatus::Cancelled
        };
        prop_assert_eq!(call.status, expected);
        prop_assert_eq!(call.error.is_some(), failed);
    }
}
