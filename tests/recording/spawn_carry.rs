//! Contract 1, carried spans: a future carried into another task with
//! `tracedeck::spawn` or `.in_current_span()` keeps its span's trace open
//! until it completes or is dropped, so a call spawned just before its turn
//! returns still lands in the turn's trace, which is delivered once, after
//! the last carried future ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use tracedeck::span::SpanKind;
use tracedeck::{
    Collector, InSpan, Model, ModelRequest, Recorder, Script, ScriptedModel, Trace, with_span,
};

const TURNS: usize = 500;

fn recorder(traces: &Collector) -> Arc<Recorder<ScriptedModel>> {
    Arc::new(Recorder::new(
        ScriptedModel::new(Script::text("done")),
        traces.clone(),
    ))
}

/// The user message of the request an `llm` span recorded.
fn asked(trace: &Trace) -> Vec<String> {
    trace
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Llm)
        .map(|s| {
            let req: ModelRequest = serde_json::from_value(s.input.clone().into()).unwrap();
            req.messages[0].text_content()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_spawned_just_before_its_turn_returns_lands_in_the_turn() {
    let traces = Collector::new();
    let model = recorder(&traces);
    let background = Arc::new(Mutex::new(Vec::new()));
    let turns = (0..TURNS).map(|i| {
        let model = Arc::clone(&model);
        let background = Arc::clone(&background);
        tokio::spawn(with_span("turn", i, async move {
            // The background call is the turn's last act: the turn's own
            // span usually ends before the spawned task first runs.
            let call = tracedeck::spawn(async move {
                model
                    .generate(ModelRequest::new("m").user(format!("turn-{i}")))
                    .await
            });
            background.lock().unwrap().push(call);
        }))
    });
    for turn in join_all(turns).await {
        turn.unwrap();
    }
    let calls = std::mem::take(&mut *background.lock().unwrap());
    for call in join_all(calls).await {
        call.unwrap().unwrap();
    }
    assert!(model.flush().await.is_clean());

    let all = traces.traces();
    let detached = all.iter().filter(|t| t.key() != "turn").count();
    let mut delivered: BTreeMap<u64, usize> = BTreeMap::new();
    let mut landed = 0;
    for trace in all.iter().filter(|t| t.key() == "turn") {
        let turn = trace.root().input.as_u64().unwrap();
        *delivered.entry(turn).or_default() += 1;
        if asked(trace) == [format!("turn-{turn}")] {
            assert_eq!(trace.spans[1].parent, Some(trace.root().id));
            landed += 1;
        }
    }
    assert_eq!(
        (landed, detached),
        (TURNS, 0),
        "calls in their turn's trace, calls detached as roots of their own"
    );
    assert_eq!(delivered.len(), TURNS, "every turn's trace is delivered");
    assert!(
        delivered.values().all(|n| *n == 1),
        "each trace is delivered exactly once"
    );
}

/// The carried call starts a second after its turn ended: it is still the
/// turn's child, and the root keeps its own end (the trace waits, the root's
/// timing does not stretch).
#[tokio::test(start_paused = true)]
async fn a_late_carried_call_keeps_the_roots_own_timing() {
    let traces = Collector::new();
    let model = recorder(&traces);
    let background = Arc::new(Mutex::new(None));
    with_span("turn", "late", {
        let model = Arc::clone(&model);
        let background = Arc::clone(&background);
        async move {
            let call = tracedeck::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                model.generate(ModelRequest::new("m").user("late")).await
            });
            *background.lock().unwrap() = Some(call);
        }
    })
    .await;
    tokio::task::yield_now().await;
    assert!(traces.is_empty(), "the trace waits for the carried task");
    let call = background.lock().unwrap().take().unwrap();
    call.await.unwrap().unwrap();

    let [trace] = traces.traces().try_into().unwrap();
    assert_eq!(trace.key(), "turn");
    assert_eq!(trace.root().timing.duration_us, 0);
    assert_eq!(trace.spans[1].parent, Some(trace.root().id));
    assert_eq!(trace.spans[1].timing.start_us, 1_000_000);
}

/// A carried future that is dropped without running lets its trace go: the
/// trace is delivered once, when the future is dropped.
#[tokio::test(start_paused = true)]
async fn dropping_a_carried_future_delivers_the_trace_once() {
    let traces = Collector::new();
    let model = recorder(&traces);
    let parked = Arc::new(Mutex::new(None));
    with_span("turn", "parked", {
        let model = Arc::clone(&model);
        let parked = Arc::clone(&parked);
        async move {
            model
                .generate(ModelRequest::new("m").user("now"))
                .await
                .unwrap();
            let never_run = Box::pin(async move {
                let _ = model.generate(ModelRequest::new("m").user("never")).await;
            });
            *parked.lock().unwrap() = Some(never_run.in_current_span());
        }
    })
    .await;
    assert!(traces.is_empty(), "held by the parked future");
    let carried = parked.lock().unwrap().take();
    drop(carried);
    let [trace] = traces.traces().try_into().unwrap();
    assert_eq!(asked(&trace), ["now"]);
    assert_eq!(traces.len(), 1);
}

/// Carrying "no span" holds nothing: the call is a root of its own and is
/// delivered when it ends.
#[tokio::test(start_paused = true)]
async fn a_future_carried_into_no_span_holds_no_trace() {
    let traces = Collector::new();
    let model = recorder(&traces);
    with_span("turn", "none", {
        let model = Arc::clone(&model);
        async move {
            async move { model.generate(ModelRequest::new("m").user("alone")).await }
                .in_span(None)
                .await
        }
    })
    .await
    .unwrap();
    let keys: Vec<String> = traces.traces().iter().map(|t| t.key().to_owned()).collect();
    assert_eq!(
        keys,
        ["llm"],
        "the turn made no recorded call, so no sink got it"
    );
}
