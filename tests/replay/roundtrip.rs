//! What must be shown 1: record → replay → record again on the paused clock
//! gives the same span tree, TTFT, `opened` and part offsets, and for
//! millisecond-aligned recordings byte-identical cassettes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use proptest::prelude::*;
use tracedeck::json::canonical_json;
use tracedeck::model::ModelInfo;
use tracedeck::testing::{run_paused, strategies};
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, Player, Recorder, Script, ScriptedModel, Store,
    StreamPart, Trace, replay, with_span,
};

use crate::common::{Question, live_model, session};

/// Every file under `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.ends_with(tracedeck::cassette::LEDGER_ROOT) {
                continue; // the usage ledger: no cassette
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

async fn record_sessions(model: Arc<dyn Model>) {
    for id in 1..=3 {
        let q = Question::new(id);
        let answer = with_span("turn", &q, session(q.clone(), Arc::clone(&model))).await;
        assert_eq!(answer.unwrap(), format!("answer to {}", q.text));
    }
}

fn sorted(mut traces: Vec<Trace>) -> Vec<Trace> {
    traces.sort_by_key(|t| t.root().input.to_string());
    traces
}

#[tokio::test(start_paused = true)]
async fn record_replay_record_gives_the_same_trees_timings_and_bytes() {
    let first_dir = tempfile::tempdir().unwrap();
    let first = Store::open(first_dir.path()).unwrap();
    let live = Arc::new(Recorder::new(live_model(), first.sink()));
    record_sessions(live.clone()).await;
    assert!(live.flush().await.is_clean());

    // Replay the cassettes, recording the replay into a second store.
    let second_dir = tempfile::tempdir().unwrap();
    let second = Store::open(second_dir.path()).unwrap();
    let player = Player::from_store(&first, "turn").unwrap();
    assert_eq!(player.len(), 6);
    let replaying = Arc::new(Recorder::new(player.clone(), second.sink()));
    record_sessions(replaying.clone()).await;
    assert!(replaying.flush().await.is_clean());
    assert_eq!(player.remaining(), 0, "every recorded call was served");

    let recorded = sorted(
        first
            .traces("turn")
            .unwrap()
            .traces
            .into_iter()
            .map(|s| s.trace)
            .collect(),
    );
    let replayed = sorted(
        second
            .traces("turn")
            .unwrap()
            .traces
            .into_iter()
            .map(|s| s.trace)
            .collect(),
    );
    assert_eq!(recorded.len(), 3);
    for (old, new) in recorded.iter().zip(&replayed) {
        assert_eq!(old.snapshot(), new.snapshot(), "same span tree");
        let (old_calls, new_calls): (Vec<_>, Vec<_>) =
            (old.llm_spans().collect(), new.llm_spans().collect());
        assert_eq!(old_calls.len(), 2);
        for (a, b) in old_calls.iter().zip(&new_calls) {
            assert_eq!(
                a.timing, b.timing,
                "same opened, first part, TTFT and duration"
            );
            let offsets =
                |s: &tracedeck::Span| s.parts.iter().map(|p| p.offset_us).collect::<Vec<_>>();
            assert_eq!(offsets(a), offsets(b), "same part offsets");
        }
        let stream = old_calls.iter().find(|s| s.streamed).unwrap();
        assert_eq!(stream.timing.opened_us, Some(300_000));
        assert_eq!(stream.timing.ttft_us, Some(500_000));
    }
    let (a, b) = (files(first_dir.path()), files(second_dir.path()));
    assert_eq!(a.len(), 3);
    assert_eq!(a, b, "byte-identical cassettes under the same names");
}

#[tokio::test(start_paused = true)]
async fn replaying_a_recording_through_replay_reports_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let live = Arc::new(Recorder::new(live_model(), store.sink()));
    record_sessions(live.clone()).await;
    assert!(live.flush().await.is_clean());

    let report = replay(&store, "turn", session).await.unwrap();
    report.assert_unchanged();
    assert_eq!(report.totals().unchanged, 3);
    for t in &report.traces {
        assert_eq!(t.llm_timings.len(), 2);
        assert!(
            t.llm_timings.iter().all(|x| x.is_unchanged()),
            "{:?}",
            t.llm_timings
        );
        assert_eq!(
            t.recorded.snapshot(),
            t.replayed.as_ref().unwrap().snapshot()
        );
    }
}

/// Plans with one model and writes with another.
async fn plan_then_write(
    topic: String,
    planner: Arc<dyn Model>,
    writer: Arc<dyn Model>,
) -> Result<String, ModelError> {
    let plan = planner
        .generate(ModelRequest::new("gpt-4o-mini").user(format!("Plan an essay on {topic}")))
        .await?
        .text;
    let mut parts = writer
        .stream(ModelRequest::new("claude-sonnet").user(plan))
        .await?;
    let mut essay = String::new();
    while let Some(part) = parts.next().await {
        if let StreamPart::TextDelta { text } = part? {
            essay.push_str(&text);
        }
    }
    Ok(essay)
}

/// A trace recorded through two recorders — their own keys, their own
/// models — replays unchanged through the one model `replay` hands the
/// function, and records again to the same bytes: each replayed call takes
/// the key and model of the call it replays.
#[tokio::test(start_paused = true)]
async fn a_trace_recorded_through_two_recorders_replays_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let sink = store.sink();
    let scripted = |text: &str, provider: &str, model: &str| {
        ScriptedModel::new(Script::text(text).open_after(crate::common::ms(40)))
            .with_info(ModelInfo::new(provider, model))
    };
    let planner = Recorder::new(
        scripted("three parts", "openai", "gpt-4o-mini"),
        sink.clone(),
    );
    let writer = Recorder::new(
        scripted("Tides rise.", "anthropic", "claude-sonnet"),
        sink.clone(),
    );
    let (planner, writer): (Arc<dyn Model>, Arc<dyn Model>) = (
        Arc::new(planner.key("planner")),
        Arc::new(writer.key("writer")),
    );
    let topic = "tides".to_owned();
    with_span(
        "essay",
        &topic,
        plan_then_write(topic.clone(), planner, writer),
    )
    .await
    .unwrap();
    assert!(sink.flush().await.is_empty());

    let report = replay(&store, "essay", |topic: String, model: Arc<dyn Model>| {
        plan_then_write(topic, model.clone(), model)
    })
    .await
    .unwrap();
    report.assert_unchanged();
    let (recorded, replayed) = (&report.traces[0].recorded, &report.traces[0].replayed);
    let replayed = replayed.as_ref().unwrap();
    let labels = |t: &Trace| -> Vec<(String, Option<ModelInfo>)> {
        t.llm_spans()
            .map(|s| (s.key.clone(), s.model.clone()))
            .collect()
    };
    assert_eq!(labels(replayed), labels(recorded));
    assert_eq!(
        canonical_json(replayed).unwrap(),
        canonical_json(recorded).unwrap()
    );
}

/// Makes a stream call and a generate call and keeps what the caller saw.
async fn call_both(model: &dyn Model) -> Vec<String> {
    with_span("p", 0, async {
        let mut seen = Vec::new();
        match model.stream(ModelRequest::new("m").user("stream")).await {
            Ok(mut parts) => {
                while let Some(part) = parts.next().await {
                    seen.push(format!("{part:?}"));
                }
            }
            Err(e) => seen.push(format!("open failed: {e}")),
        }
        let answer = model
            .generate(ModelRequest::new("m").user("generate"))
            .await;
        seen.push(format!("{answer:?}"));
        seen
    })
    .await
}

proptest! {
    #![proptest_config(ProptestConfig {
        // A failing case is printed; no regression file is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::with_cases(64)
    })]

    /// Any script (framing, content, errors mid-stream, millisecond delays):
    /// the replay is seen the same by the caller and recorded to the same bytes.
    #[test]
    fn any_recorded_call_replays_to_the_same_bytes(script in strategies::script()) {
        run_paused(async {
            let recorded = Collector::new();
            let live = Recorder::new(ScriptedModel::new(script), recorded.clone());
            let saw_live = call_both(&live).await;
            let recorded = recorded.take();

            let again = Collector::new();
            let replaying = Recorder::new(Player::from_traces("p", recorded.clone()), again.clone());
            let saw_replay = call_both(&replaying).await;
            let again = again.take();

            assert_eq!(saw_live, saw_replay);
            assert_eq!(recorded.len(), 1);
            assert_eq!(
                canonical_json(&recorded[0]).unwrap(),
                canonical_json(&again[0]).unwrap()
            );
        });
    }
}
