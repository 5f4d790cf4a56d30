//! Contract 3, recording failures: a sink that fails or panics never fails
//! or delays a model call; `flush()` reports what was lost.

use std::sync::{Arc, Once};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use proptest::prelude::*;
use tokio::time::Instant;
use tracedeck::sink::FlushReport;
use tracedeck::sink::SinkError;
use tracedeck::span::SpanStatus;
use tracedeck::testing::{run_paused, strategies};
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, ModelResponse, Recorder, Script, ScriptedModel,
    Sink, StreamPart, Trace, with_span,
};

const SINK_PANIC: &str = "sink exploded";

/// The sink panics in these tests are expected: keep them out of the test
/// output, and leave every other panic to the default hook.
fn quiet_sink_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&SINK_PANIC) {
                default(info);
            }
        }));
    });
}

/// Refuses every trace, as a full disk would.
struct FailingSink;

impl Sink for FailingSink {
    fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError> {
        Err(SinkError::write(trace.key(), "disk full"))
    }
}

/// Panics on every trace.
struct PanickingSink;

impl Sink for PanickingSink {
    fn accept(&self, _trace: Arc<Trace>) -> Result<(), SinkError> {
        panic!("sink exploded");
    }
}

/// Accepts every trace, then finds at flush time that one write failed.
struct LateFailingSink;

impl Sink for LateFailingSink {
    fn accept(&self, _trace: Arc<Trace>) -> Result<(), SinkError> {
        Ok(())
    }
    fn flush(&self) -> BoxFuture<'_, Vec<SinkError>> {
        Box::pin(async { vec![SinkError::write("turn", "rename failed")] })
    }
}

/// Accepts every trace, then panics while flushing.
struct FlushPanickingSink;

impl Sink for FlushPanickingSink {
    fn accept(&self, _trace: Arc<Trace>) -> Result<(), SinkError> {
        Ok(())
    }
    fn flush(&self) -> BoxFuture<'_, Vec<SinkError>> {
        Box::pin(async { panic!("sink exploded") })
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn request() -> ModelRequest {
    ModelRequest::new("m").user("hi")
}

/// What a caller sees of one session, with offsets (µs) from its start.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Generated(u64, Result<ModelResponse, ModelError>),
    OpenFailed(u64, ModelError),
    Opened(u64),
    Item(u64, Result<StreamPart, ModelError>),
}

/// One root span that calls `generate`, then streams to the end; returns
/// everything the caller saw and when.
async fn session(model: &impl Model) -> Vec<Event> {
    let t0 = Instant::now();
    let at = || u64::try_from(t0.elapsed().as_micros()).expect("fits");
    let mut events = Vec::new();
    with_span("turn", "t", async {
        let generated = model.generate(request()).await;
        events.push(Event::Generated(at(), generated));
        match model.stream(request()).await {
            Err(err) => events.push(Event::OpenFailed(at(), err)),
            Ok(mut parts) => {
                events.push(Event::Opened(at()));
                while let Some(item) = parts.next().await {
                    events.push(Event::Item(at(), item));
                }
            }
        }
    })
    .await;
    events
}

fn script() -> Script {
    Script::new()
        .open_after(ms(300))
        .part(StreamPart::StreamStart)
        .part_after(ms(200), StreamPart::text("Hello"))
        .part_after(
            ms(20),
            StreamPart::finish(tracedeck::model::FinishReason::stop()),
        )
}

/// Runs the session bare and through a recorder into `sink`; asserts the
/// caller saw exactly the same, at the same instants; returns the flush report.
async fn same_as_bare(script: Script, sink: impl Sink) -> FlushReport {
    let bare = session(&ScriptedModel::new(script.clone())).await;
    let recorder = Recorder::new(ScriptedModel::new(script), sink);
    let recorded = session(&recorder).await;
    assert_eq!(recorded, bare);
    recorder.flush().await
}

#[tokio::test(start_paused = true)]
async fn a_failing_sink_never_fails_or_delays_the_call_and_flush_reports_the_loss() {
    let report = same_as_bare(script(), FailingSink).await;
    assert_eq!(
        report,
        FlushReport {
            delivered: 0,
            lost: 1,
            errors: vec![SinkError::write("turn", "disk full")],
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_sink_never_fails_or_delays_the_call_and_flush_reports_the_loss() {
    quiet_sink_panics();
    let report = same_as_bare(script(), PanickingSink).await;
    assert_eq!(
        report,
        FlushReport {
            delivered: 0,
            lost: 1,
            errors: vec![SinkError::Panicked {
                key: "turn".into(),
                message: SINK_PANIC.into()
            }],
        }
    );
    assert!(!report.is_clean());
}

/// Each flush reports what happened since the last one.
#[tokio::test(start_paused = true)]
async fn flush_counts_every_loss_and_resets() {
    let recorder = Recorder::new(ScriptedModel::new(Script::text("x")), FailingSink);
    for _ in 0..150 {
        recorder.generate(request()).await.unwrap();
    }
    let report = recorder.flush().await;
    assert_eq!((report.delivered, report.lost), (0, 150));
    assert_eq!(
        report.errors.len(),
        100,
        "the first hundred errors are kept"
    );
    assert_eq!(recorder.flush().await, FlushReport::default());
    assert!(recorder.flush().await.is_clean());
}

/// The task's own panic (quieted like the sink's).
fn fail_the_task() {
    panic!("sink exploded");
}

/// A sink that panics while the task is already panicking (its spans end
/// during unwinding) does not abort the process; the loss is reported.
#[tokio::test(start_paused = true)]
async fn a_sink_panicking_while_a_task_panics_is_caught_and_reported() {
    quiet_sink_panics();
    let recorder = Arc::new(Recorder::new(
        ScriptedModel::new(Script::text("x").open_after(ms(10))),
        PanickingSink,
    ));
    let model = Arc::clone(&recorder);
    let task = tokio::spawn(with_span("doomed", "d", async move {
        let _parts = model.stream(request()).await.unwrap();
        fail_the_task();
    }));
    assert!(task.await.unwrap_err().is_panic());
    let report = recorder.flush().await;
    assert_eq!(report.lost, 1);
    assert_eq!(
        report.errors,
        [SinkError::Panicked {
            key: "doomed".into(),
            message: SINK_PANIC.into()
        }]
    );
}

/// A write that fails after the sink accepted the trace moves it from
/// delivered to lost.
#[tokio::test(start_paused = true)]
async fn a_failure_the_sink_finds_at_flush_time_is_reported_as_lost() {
    let report = same_as_bare(script(), LateFailingSink).await;
    assert_eq!((report.delivered, report.lost), (0, 1));
    assert_eq!(report.errors, [SinkError::write("turn", "rename failed")]);
}

#[tokio::test(start_paused = true)]
async fn a_sink_that_panics_while_flushing_is_reported() {
    quiet_sink_panics();
    let report = same_as_bare(script(), FlushPanickingSink).await;
    assert_eq!(report.lost, 1);
    let [SinkError::Other(message)] = report.errors.as_slice() else {
        panic!("one error expected: {report:?}");
    };
    assert!(message.contains(SINK_PANIC), "{message}");
}

/// One recorder's broken sink does not cost another recorder's sink the
/// trace they share.
#[tokio::test(start_paused = true)]
async fn a_broken_sink_does_not_cost_another_sink_the_shared_trace() {
    quiet_sink_panics();
    let traces = Collector::new();
    let broken = Recorder::new(ScriptedModel::new(Script::text("a")), PanickingSink);
    let healthy = Recorder::new(ScriptedModel::new(Script::text("b")), traces.clone());
    with_span("turn", "t", async {
        broken.generate(request()).await.unwrap();
        healthy.generate(request()).await.unwrap();
    })
    .await;
    let [trace] = traces
        .traces()
        .try_into()
        .expect("the healthy sink got the trace");
    assert_eq!(trace.llm_spans().count(), 2);
    assert!(trace.spans.iter().all(|s| s.status == SpanStatus::Ok));
    assert_eq!(broken.flush().await.lost, 1);
    assert_eq!(healthy.flush().await.delivered, 1);
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(32)
    })]

    /// For arbitrary scripts, a failing or panicking sink leaves every call's
    /// results and instants as they are without a recorder, and flush reports
    /// the one trace lost.
    #[test]
    fn a_broken_sink_never_changes_what_the_caller_sees(
        script in strategies::script(),
        panics in any::<bool>(),
    ) {
        quiet_sink_panics();
        let report = run_paused(async {
            if panics {
                same_as_bare(script, PanickingSink).await
            } else {
                same_as_bare(script, FailingSink).await
            }
        });
        prop_assert_eq!((report.delivered, report.lost, report.errors.len()), (0, 1, 1));
    }
}
