//! What must be shown 5 and 6: a changed output is reported with its diff, a
//! panicking function is reported failed while the rest pass; committed insta
//! snapshots of a replayed span tree and of a ReplayReport.

use std::sync::Arc;

use tracedeck::replay::{Replayer, TraceOutcome};
use tracedeck::{Collector, Model, Recorder, ReplayReport, Store, Trace, replay, with_span};

use crate::common::{Question, live_model, session};

/// The function under test after a code change: question 2 now shouts and
/// question 3 panics.
async fn changed_session(q: Question, model: Arc<dyn Model>) -> Result<String, String> {
    match q.id {
        2 => session(q, model).await.map(|a| a.to_uppercase()),
        3 => panic!("the new code panics on question {}", q.id),
        _ => session(q, model).await,
    }
}

async fn record_three(model: Arc<dyn Model>) {
    for id in 1..=3 {
        let q = Question::new(id);
        with_span("turn", q.clone(), session(q, Arc::clone(&model)))
            .await
            .unwrap();
    }
}

async fn recorded_traces() -> Vec<Trace> {
    let traces = Collector::new();
    record_three(Arc::new(Recorder::new(live_model(), traces.clone()))).await;
    traces.take()
}

fn by_id(report: &ReplayReport, id: u32) -> &tracedeck::replay::TraceReplay {
    report
        .traces
        .iter()
        .find(|t| t.recorded.root().input["id"] == id)
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_changed_output_is_reported_with_its_diff_and_a_panic_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let live = Arc::new(Recorder::new(live_model(), store.sink()));
    record_three(live.clone()).await;
    assert!(live.flush().await.is_clean());

    let report = replay(&store, "turn", changed_session).await.unwrap();
    let totals = report.totals();
    assert_eq!(
        (
            totals.traces,
            totals.unchanged,
            totals.changed,
            totals.failed
        ),
        (3, 1, 1, 1)
    );
    assert!(!report.is_unchanged());

    let same = by_id(&report, 1);
    assert_eq!(same.outcome, TraceOutcome::Unchanged);
    assert!(same.output_unchanged());

    let shouting = by_id(&report, 2);
    assert_eq!(shouting.outcome, TraceOutcome::Changed);
    let diff: Vec<String> = shouting
        .output_diff
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        diff,
        [
            r#"/Ok: "answer to question 2: what is 2 squared?" → "ANSWER TO QUESTION 2: WHAT IS 2 SQUARED?""#
        ]
    );
    assert!(shouting.tree.added.is_empty() && shouting.tree.removed.is_empty());
    assert_eq!(
        shouting.tree.changed.len(),
        1,
        "only the root's output changed"
    );
    assert_eq!(shouting.tree.changed[0].span, "turn");

    let panicked = by_id(&report, 3);
    assert_eq!(
        panicked.outcome,
        TraceOutcome::Failed {
            reason: "panicked: the new code panics on question 3".into()
        }
    );
    // The panic still leaves a trace: its root ended as an error, with no calls made.
    let replayed = panicked.replayed.as_ref().unwrap();
    assert_eq!(replayed.root().status, tracedeck::span::SpanStatus::Error);
    assert_eq!(panicked.tree.removed.len(), 3, "{:?}", panicked.tree);

    let text = report.to_string();
    assert!(
        text.starts_with("replay of `turn`: 3 trace(s): 1 unchanged, 1 changed, 1 failed"),
        "{text}"
    );
    assert!(
        text.contains("panicked: the new code panics on question 3"),
        "{text}"
    );
    let caught = std::panic::catch_unwind(|| report.assert_unchanged()).unwrap_err();
    assert!(
        caught
            .downcast_ref::<String>()
            .unwrap()
            .contains("1 changed, 1 failed")
    );
}

#[tokio::test(start_paused = true)]
async fn a_function_returning_a_new_error_fails_and_undecodable_input_fails() {
    let traces = recorded_traces().await;
    let report = Replayer::from_traces("turn", traces.clone())
        .run(|q: Question, _model: Arc<dyn Model>| async move {
            if q.id == 1 {
                Err(format!("refused {}", q.id))
            } else {
                Ok("x".to_owned())
            }
        })
        .await
        .unwrap();
    assert_eq!(
        by_id(&report, 1).outcome,
        TraceOutcome::Failed {
            reason: "returned an error: refused 1".into()
        }
    );
    assert_eq!(by_id(&report, 2).outcome, TraceOutcome::Changed);

    let report = Replayer::from_traces("turn", traces)
        .filter(|t| t.root().input["id"] == 1)
        .run(|n: u64, _model: Arc<dyn Model>| async move { n })
        .await
        .unwrap();
    assert_eq!(report.traces.len(), 1);
    let TraceOutcome::Failed { reason } = &report.traces[0].outcome else {
        panic!("{:?}", report.traces[0].outcome)
    };
    assert!(
        reason.starts_with("the recorded input does not decode"),
        "{reason}"
    );
}

#[tokio::test(start_paused = true)]
async fn replaying_a_key_with_no_recordings_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = replay(&store, "nothing-here", session).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("no recorded traces under key `nothing-here`"),
        "{err}"
    );
    // replay() reads no TRACEDECK_MODE: the advice says how to record instead.
    assert!(!err.to_string().contains("TRACEDECK_MODE"), "{err}");
    assert!(err.to_string().contains("`Recorder`"), "{err}");
    let err = Replayer::new(&store, "k")
        .concurrency(0)
        .run(session)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        tracedeck::replay::ReplayError::ZeroConcurrency
    ));
}

/// What must be shown 6. Snapshots live in `tests/snapshots/`.
#[tokio::test(start_paused = true)]
async fn snapshots_of_a_replayed_span_tree_and_a_report() {
    let report = Replayer::from_traces("turn", recorded_traces().await)
        .run(changed_session)
        .await
        .unwrap();
    let replayed = by_id(&report, 1).replayed.clone().unwrap();
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_yaml_snapshot!("replayed_span_tree", replayed.snapshot());
        insta::assert_yaml_snapshot!("replay_report", report.snapshot());
    });
}

#[tokio::test(start_paused = true)]
async fn a_live_model_instead_of_the_recordings_shows_what_a_change_does() {
    let new_model = tracedeck::ScriptedModel::new(tracedeck::Script::text("42"));
    let report = Replayer::from_traces("turn", recorded_traces().await)
        .live(Arc::new(new_model.clone()))
        .run(session)
        .await
        .unwrap();
    assert_eq!(
        new_model.requests().len(),
        6,
        "every call of the three traces went live"
    );
    assert_eq!(report.totals().changed, 3);
    for t in &report.traces {
        let diff: Vec<String> = t.output_diff.iter().map(ToString::to_string).collect();
        assert_eq!(diff.len(), 1);
        assert!(diff[0].ends_with(r#"→ "42""#), "{diff:?}");
        let changed: Vec<&str> = t.tree.changed.iter().map(|c| c.span.as_str()).collect();
        assert!(changed.contains(&"turn > llm[0]"), "{changed:?}");
        assert!(
            changed.contains(&"turn > compose[0] > llm[0]"),
            "{changed:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_cassette_that_fails_to_load_is_listed_and_the_rest_still_replay() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let live = Arc::new(Recorder::new(live_model(), store.sink()));
    record_three(live.clone()).await;
    assert!(live.flush().await.is_clean());
    let broken = store.traces("turn").unwrap().traces[0].path.clone();
    let mut bytes = std::fs::read(&broken).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&broken, bytes).unwrap();

    let report = replay(&store, "turn", session).await.unwrap();
    assert_eq!(report.unreadable.len(), 1);
    let name = broken.file_name().unwrap().to_str().unwrap();
    assert!(
        report.unreadable[0].contains(name),
        "{:?}",
        report.unreadable
    );
    assert_eq!(report.totals().unchanged, 2);
    assert!(!report.is_unchanged());
}
