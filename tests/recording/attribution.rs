//! Contract 1, attribution: every model call lands under the span of the task
//! that made it, captured when the call is made, even when many tasks share
//! one `Recorder`; a call made outside any span is a root of its own.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::join_all;
use proptest::prelude::*;
use tracedeck::context::current_span;
use tracedeck::span::SpanKind;
use tracedeck::testing::{Step, run_paused, strategies};
use tracedeck::{
    Collector, InSpan, Model, ModelRequest, Recorder, Script, ScriptedModel, StreamPart, Trace,
    with_span,
};

const MARKER_PREFIX: &str = "marker-";

fn marker(i: usize) -> String {
    format!("{MARKER_PREFIX}{i}")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The request a root sends: its marker as the only user message.
fn request(marker: &str) -> ModelRequest {
    ModelRequest::new("m").user(marker)
}

/// The marker a request carries.
fn marker_of(req: &ModelRequest) -> String {
    req.messages
        .first()
        .map(|m| m.text_content())
        .unwrap_or_default()
}

/// A model that plays `scripts[i]` for the request carrying marker `i`, led by
/// a text part echoing that marker, so outputs can be traced to their callers.
fn echoing_model(scripts: Vec<Script>) -> ScriptedModel {
    ScriptedModel::from_fn(move |req| {
        let marker = marker_of(req);
        let index: usize = marker
            .strip_prefix(MARKER_PREFIX)
            .and_then(|i| i.parse().ok())
            .unwrap_or(0);
        let mut script = scripts.get(index).cloned().unwrap_or_default();
        let echo = Step::Part {
            delay: Duration::ZERO,
            part: StreamPart::text(format!("{marker};")),
        };
        script.steps.insert(0, echo);
        script
    })
}

/// What one root does: a `generate` and a `stream` at the same time, both on
/// the shared recorder. Returns the texts it received (`None` where the call failed).
async fn generate_and_stream(
    model: &Recorder<ScriptedModel>,
    marker: &str,
) -> (Option<String>, Option<String>) {
    let generated = async { model.generate(request(marker)).await.ok().map(|r| r.text) };
    let streamed = async {
        let mut parts = model.stream(request(marker)).await.ok()?;
        let mut text = String::new();
        while let Some(Ok(part)) = parts.next().await {
            if let StreamPart::TextDelta { text: delta } = part {
                text.push_str(&delta);
            }
        }
        Some(text)
    };
    futures::join!(generated, streamed)
}

/// Every way `traces` break attribution for `roots` roots that each made
/// `calls_per_root` calls with their own marker; empty when there is none.
fn misattributions(traces: &[Trace], roots: usize, calls_per_root: usize) -> Vec<String> {
    let mut problems = Vec::new();
    if traces.len() != roots {
        problems.push(format!("{} traces for {roots} roots", traces.len()));
    }
    let mut seen_markers = BTreeSet::new();
    for trace in traces {
        let root = trace.root();
        let Some(root_marker) = root.input.as_str() else {
            problems.push(format!("trace root {root:?} has no marker input"));
            continue;
        };
        if root.kind != SpanKind::Task || root.parent.is_some() {
            problems.push(format!("trace of {root_marker}: root is not a task root"));
        }
        if !seen_markers.insert(root_marker.to_owned()) {
            problems.push(format!("{root_marker} has more than one trace"));
        }
        let calls: Vec<_> = trace.llm_spans().collect();
        if calls.len() != calls_per_root {
            problems.push(format!(
                "{root_marker} has {} llm spans, expected {calls_per_root}",
                calls.len()
            ));
        }
        for call in calls {
            if call.parent != Some(root.id) {
                problems.push(format!(
                    "{root_marker}: llm span {} has parent {:?}",
                    call.id, call.parent
                ));
            }
            let call_marker = call.request().map(|r| marker_of(&r)).unwrap_or_default();
            if call_marker != root_marker {
                problems.push(format!(
                    "{root_marker}: llm span {} holds the input of {call_marker}",
                    call.id
                ));
            }
            if let Some(response) = call.response() {
                if !response.text.starts_with(&format!("{root_marker};")) {
                    problems.push(format!(
                        "{root_marker}: llm span {} holds the output {:?}",
                        call.id, response.text
                    ));
                }
            }
        }
    }
    let expected: BTreeSet<String> = (0..roots).map(marker).collect();
    if seen_markers != expected {
        problems.push(format!(
            "root markers {seen_markers:?}, expected 0..{roots}"
        ));
    }
    problems
}

/// Every text root `i` received must echo root `i`'s marker (`None` is a failed call).
fn misrouted_outputs(received: &[Vec<Option<String>>]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, texts) in received.iter().enumerate() {
        let expected = format!("{};", marker(i));
        for text in texts.iter().flatten() {
            if !text.starts_with(&expected) {
                problems.push(format!("root {i} received {text:?}"));
            }
        }
    }
    problems
}

proptest! {
    // Modest case counts keep the suite fast; no regression files are written.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(48)
    })]

    /// Point 1: N concurrent roots with arbitrary, interleaving scripts share
    /// ONE recorder; every llm span is a child of its own root and holds its
    /// own root's marker, and every consumer gets its own answer.
    #[test]
    fn concurrent_roots_sharing_one_recorder_keep_their_own_calls(
        scripts in prop::collection::vec(strategies::script(), 1..=64)
    ) {
        let roots = scripts.len();
        let traces = Collector::new();
        let model = Recorder::new(echoing_model(scripts), traces.clone());
        let received = run_paused(async {
            join_all((0..roots).map(|i| {
                let model = &model;
                with_span("turn", marker(i), async move {
                    let (generated, streamed) = generate_and_stream(model, &marker(i)).await;
                    vec![generated, streamed]
                })
            }))
            .await
        });
        let problems = misattributions(&traces.traces(), roots, 2);
        prop_assert!(problems.is_empty(), "misattributions: {problems:#?}");
        let misrouted = misrouted_outputs(&received);
        prop_assert!(misrouted.is_empty(), "misrouted outputs: {misrouted:#?}");
    }
}

/// Point 1 on real threads: 500 roots spawned on a multi-thread runtime, each
/// also hopping through `tracedeck::spawn`, with zero misattributions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_roots_on_a_multi_thread_runtime_have_zero_misattributions() {
    const ROOTS: usize = 500;
    // Short real delays (0-2 ms) so calls overlap across worker threads.
    let scripts = (0..ROOTS as u64)
        .map(|i| {
            Script::new()
                .open_after(ms(i % 3))
                .part_after(ms(i % 2), StreamPart::text("a"))
                .part_after(ms((i + 1) % 3), StreamPart::text("b"))
        })
        .collect();
    let traces = Collector::new();
    let model = Arc::new(Recorder::new(echoing_model(scripts), traces.clone()));

    let roots: Vec<_> = (0..ROOTS)
        .map(|i| {
            let model = Arc::clone(&model);
            tokio::spawn(with_span("turn", marker(i), async move {
                tokio::task::yield_now().await;
                let (generated, streamed) = generate_and_stream(&model, &marker(i)).await;
                let hop_model = Arc::clone(&model);
                let hopped = tracedeck::spawn(async move {
                    tokio::task::yield_now().await;
                    hop_model.generate(request(&marker(i))).await.ok()
                })
                .await
                .expect("the hop task runs to completion")
                .map(|r| r.text);
                vec![generated, streamed, hopped]
            }))
        })
        .collect();
    let mut received = Vec::new();
    for root in roots {
        let texts = root.await.expect("root task runs to completion");
        assert!(
            texts.iter().all(Option::is_some),
            "no call fails: {texts:?}"
        );
        received.push(texts);
    }

    let problems = misattributions(&traces.traces(), ROOTS, 3);
    assert_eq!(problems, Vec::<String>::new(), "misattributions");
    assert_eq!(misrouted_outputs(&received), Vec::<String>::new());
}

/// Point 2: a call inside `tracedeck::spawn` is a child of the spawning span.
#[tokio::test(start_paused = true)]
async fn a_call_inside_tracedeck_spawn_is_a_child_of_the_spawning_span() {
    let traces = Collector::new();
    let model = Arc::new(Recorder::new(
        ScriptedModel::new(Script::text("hi").open_after(ms(30))),
        traces.clone(),
    ));
    let worker = Arc::clone(&model);
    with_span("outer", "o", async move {
        with_span("inner", "i", async move {
            tracedeck::spawn(async move { worker.generate(request("from-spawn")).await })
                .await
                .expect("spawned task completes")
        })
        .await
    })
    .await
    .expect("the call succeeds");

    let [trace] = traces.traces().try_into().expect("exactly one trace");
    let inner = trace
        .spans
        .iter()
        .find(|s| s.key == "inner")
        .expect("inner span");
    let [call] = trace
        .llm_spans()
        .collect::<Vec<_>>()
        .try_into()
        .expect("one llm span");
    assert_eq!(call.parent, Some(inner.id));
    assert_eq!(inner.parent, Some(trace.root().id));
    assert_eq!(marker_of(&call.request().unwrap()), "from-spawn");
}

/// Point 2: `.in_current_span()` carries the span into a plain `tokio::spawn`.
#[tokio::test(start_paused = true)]
async fn in_current_span_carries_the_span_into_a_tokio_spawn() {
    let traces = Collector::new();
    let model = Arc::new(Recorder::new(
        ScriptedModel::new(Script::text("hi")),
        traces.clone(),
    ));
    let worker = Arc::clone(&model);
    with_span("parent", "p", async move {
        tokio::spawn(async move { worker.generate(request("x")).await }.in_current_span())
            .await
            .expect("spawned task completes")
    })
    .await
    .expect("the call succeeds");

    let [trace] = traces.traces().try_into().expect("exactly one trace");
    let call = trace.llm_spans().next().expect("an llm span");
    assert_eq!(call.parent, Some(trace.root().id));
    assert_eq!(trace.key(), "parent");
}

/// Point 2: a call inside a bare `tokio::spawn` is a root of its own, never
/// attached to the trace of the task that spawned it, even while many such
/// parents run at once.
#[tokio::test(start_paused = true)]
async fn a_call_inside_a_bare_tokio_spawn_is_a_root_of_its_own() {
    const PARENTS: usize = 8;
    let traces = Collector::new();
    let model = Arc::new(Recorder::new(
        echoing_model(vec![Script::text("x").open_after(ms(10)); PARENTS]),
        traces.clone(),
    ));
    join_all((0..PARENTS).map(|i| {
        let model = Arc::clone(&model);
        with_span("parent", marker(i), async move {
            let detached = Arc::clone(&model);
            let spawned = tokio::spawn(async move {
                assert!(current_span().is_none(), "a bare task starts in no span");
                detached.generate(request("detached")).await
            });
            let own = model.generate(request(&marker(i))).await;
            spawned.await.expect("spawned task completes").unwrap();
            own.unwrap();
        })
    }))
    .await;

    let all = traces.traces();
    let (parents, detached): (Vec<Trace>, Vec<Trace>) =
        all.into_iter().partition(|t| t.key() == "parent");
    assert_eq!(misattributions(&parents, PARENTS, 1), Vec::<String>::new());
    assert_eq!(detached.len(), PARENTS);
    for trace in detached {
        assert_eq!(
            trace.spans.len(),
            1,
            "a detached call is alone in its trace"
        );
        let root = trace.root();
        assert_eq!((root.kind, root.parent), (SpanKind::Llm, None));
        assert_eq!(marker_of(&root.request().unwrap()), "detached");
    }
}

/// `in_span(None)` hides the enclosing span: the call is a root of its own.
#[tokio::test(start_paused = true)]
async fn in_span_none_makes_a_call_a_root_even_inside_a_span() {
    let traces = Collector::new();
    let model = Recorder::new(ScriptedModel::new(Script::text("hi")), traces.clone());
    with_span("parent", "p", async {
        let own = model.generate(request("own")).await.unwrap();
        let detached = async { model.generate(request("detached")).await }
            .in_span(None)
            .await
            .unwrap();
        (own.text, detached.text)
    })
    .await;

    let all = traces.traces();
    assert_eq!(all.len(), 2, "{all:#?}");
    let parent = all.iter().find(|t| t.key() == "parent").unwrap();
    assert_eq!(parent.llm_spans().count(), 1);
    let detached = all.iter().find(|t| t.key() == "llm").unwrap();
    assert_eq!(detached.spans.len(), 1);
    assert_eq!(marker_of(&detached.root().request().unwrap()), "detached");
}

/// The parent is captured when `generate` is called, not where the future is awaited.
#[tokio::test(start_paused = true)]
async fn the_parent_is_the_span_where_the_call_was_made_not_where_it_is_awaited() {
    let traces = Collector::new();
    let model = Recorder::new(
        ScriptedModel::new(Script::text("hi").open_after(ms(5))),
        traces.clone(),
    );
    with_span("caller", "c", async {
        let call = model.generate(request("made-in-caller"));
        with_span("awaiter", "a", async move { call.await.map(|r| r.text) }).await
    })
    .await
    .unwrap();

    let [trace] = traces.traces().try_into().expect("one trace");
    let awaiter = trace.spans.iter().find(|s| s.key == "awaiter").unwrap();
    let call = trace.llm_spans().next().unwrap();
    assert_eq!(call.parent, Some(trace.root().id));
    assert_eq!(awaiter.parent, Some(trace.root().id));
}

/// A call still in flight when its root ends keeps the trace open: the trace
/// is delivered once, with the call, after the call ends.
#[tokio::test(start_paused = true)]
async fn a_call_in_flight_when_the_root_ends_holds_the_trace_until_it_ends() {
    let traces = Collector::new();
    let model = Arc::new(Recorder::new(
        ScriptedModel::new(Script::text("late").open_after(ms(500))),
        traces.clone(),
    ));
    let worker = Arc::clone(&model);
    let mut handle = None;
    with_span("short-root", "r", async {
        handle = Some(tracedeck::spawn(async move {
            worker.generate(request("slow")).await
        }));
        tokio::time::sleep(ms(1)).await; // the spawned call has started
    })
    .await;
    assert!(traces.is_empty(), "delivered before its call ended");
    handle.unwrap().await.unwrap().unwrap();

    let [trace] = traces.traces().try_into().expect("one trace");
    let call = trace.llm_spans().next().unwrap();
    assert_eq!(call.parent, Some(trace.root().id));
    assert_eq!(trace.root().timing.duration_us, 1_000);
    assert_eq!(call.timing.duration_us, 500_000);
}

/// A call made after its span's trace was delivered starts a trace of its own
/// and never changes the delivered one. (A span kept as a `SpanContext` does
/// not hold its trace open; only a carried future does, see
/// tests/recording/spawn_carry.rs.)
#[tokio::test(start_paused = true)]
async fn a_call_after_the_trace_was_delivered_is_a_root_of_its_own() {
    let traces = Collector::new();
    let model = Arc::new(Recorder::new(
        ScriptedModel::new(Script::text("x")),
        traces.clone(),
    ));
    let mut kept = None;
    with_span("turn", "t", async {
        kept = current_span();
        model.generate(request("on-time")).await.unwrap();
    })
    .await;
    let delivered = traces.traces();
    assert_eq!(delivered.len(), 1);
    tokio::time::sleep(ms(1_000)).await;
    // Called inside the kept span, whose trace is already delivered.
    async { model.generate(request("late")).await }
        .in_span(kept)
        .await
        .unwrap();

    let all = traces.traces();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], delivered[0], "the delivered trace never changes");
    assert_eq!(all[0].llm_spans().count(), 1);
    let late = &all[1];
    assert_eq!(late.spans.len(), 1);
    assert_eq!(
        (late.root().kind, late.root().parent),
        (SpanKind::Llm, None)
    );
    assert_eq!(marker_of(&late.root().request().unwrap()), "late");
}

/// `with_span` also takes its parent when it is called: a span future made
/// inside one span and first polled inside another is a child of the first.
#[tokio::test(start_paused = true)]
async fn a_span_future_is_a_child_of_the_span_it_was_made_in() {
    let traces = Collector::new();
    let model = Recorder::new(ScriptedModel::new(Script::text("x")), traces.clone());
    with_span("maker", "m", async {
        let made_here = with_span("made", "d", async {
            model.generate(request("inside-made")).await.map(|r| r.text)
        });
        with_span("poller", "p", made_here).await
    })
    .await
    .unwrap();

    let [trace] = traces.traces().try_into().expect("one trace");
    let by_key = |key: &str| trace.spans.iter().find(|s| s.key == key).unwrap();
    let (maker, made, poller) = (by_key("maker"), by_key("made"), by_key("poller"));
    assert_eq!(made.parent, Some(maker.id));
    assert_eq!(poller.parent, Some(maker.id));
    assert_eq!(trace.llm_spans().next().unwrap().parent, Some(made.id));
}
