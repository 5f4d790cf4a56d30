//! What must be shown 4: a changed prompt is a CassetteMiss showing the
//! changed path and both values; Auto records the new call and the next
//! replay succeeds. Also the other modes of the one-line builder.

use std::path::Path;
use std::sync::Arc;

use tracedeck::replay::CassetteModel;
use tracedeck::replay::ReplayError;
use tracedeck::{Mode, Model, ModelError, ScriptedModel, Store, with_span};

use crate::common::{Question, live_model, session};

fn cassette_files(store: &Store) -> usize {
    store
        .keys()
        .unwrap()
        .iter()
        .map(|k| store.traces(k).unwrap().traces.len())
        .sum()
}

/// A cassette folder at `dir` in front of `live`, in `mode`.
fn cassette(dir: &Path, mode: Mode, live: &ScriptedModel) -> Arc<CassetteModel> {
    Arc::new(
        CassetteModel::at(dir)
            .mode(mode)
            .in_front_of(live.clone())
            .unwrap(),
    )
}

async fn ask(model: Arc<dyn Model>, q: Question) -> Result<String, String> {
    with_span("turn", q.clone(), session(q, model)).await
}

#[tokio::test(start_paused = true)]
async fn a_changed_prompt_misses_then_auto_records_it_and_the_next_replay_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let live = live_model();

    // Auto on an empty folder: every call goes live and is recorded.
    let auto = cassette(dir.path(), Mode::Auto, &live);
    ask(auto.clone(), Question::new(1)).await.unwrap();
    assert!(auto.flush().await.is_clean());
    assert_eq!(live.requests().len(), 2);
    assert_eq!(cassette_files(auto.store()), 1);

    // Replay: the recorded question is served without the live model.
    let replay = cassette(dir.path(), Mode::Replay, &live);
    assert_eq!(
        ask(replay.clone(), Question::new(1)).await.unwrap(),
        format!("answer to {}", Question::new(1).text)
    );
    assert_eq!(
        live.requests().len(),
        2,
        "replay never calls the live model"
    );

    // A changed prompt misses, and the miss says where and how it changed.
    let changed = Question {
        id: 1,
        text: "question 1: what is 1 cubed?".into(),
    };
    let err = replay
        .generate(crate::common::plan_request(&changed))
        .await
        .unwrap_err();
    let ModelError::CassetteMiss { key, detail } = &err else {
        panic!("expected a miss, got {err:?}")
    };
    assert_eq!(key, "turn", "the key of the recording, not `*`");
    assert!(
        detail.contains(r#"/messages/0/content/0/text: "question 1: what is 1 squared?" → "question 1: what is 1 cubed?""#),
        "{detail}"
    );
    assert!(detail.contains(".mode(Mode::Auto)"), "{detail}");
    assert!(
        ask(replay.clone(), changed.clone())
            .await
            .unwrap_err()
            .contains("no recorded call")
    );

    // Auto records the changed session (and only that: the old one is served).
    let auto = cassette(dir.path(), Mode::Auto, &live);
    ask(auto.clone(), Question::new(1)).await.unwrap();
    ask(auto.clone(), changed.clone()).await.unwrap();
    assert!(auto.flush().await.is_clean());
    assert_eq!(
        live.requests().len(),
        4,
        "only the changed session's two calls went live"
    );
    assert_eq!(
        cassette_files(auto.store()),
        2,
        "the fully replayed session was not written again"
    );

    // The next replay of the changed prompt succeeds.
    let replay = cassette(dir.path(), Mode::Replay, &live);
    assert_eq!(
        ask(replay, changed.clone()).await.unwrap(),
        format!("answer to {}", changed.text)
    );
    assert_eq!(live.requests().len(), 4);
}

/// A session of one call: the plan.
async fn plan_only(q: Question, model: Arc<dyn Model>) -> Result<String, String> {
    let plan = model.generate(crate::common::plan_request(&q)).await;
    plan.map(|r| r.text).map_err(|e| e.to_string())
}

/// Auto writes exactly the traces that went live: a session served entirely
/// from the folder is not written again, even while another session sends
/// the very same request live (it asked more often than recorded).
#[tokio::test(start_paused = true)]
async fn auto_writes_only_the_traces_that_went_live_even_when_they_share_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let live = live_model();
    let q = Question::new(1);
    let auto = |live| {
        Arc::new(
            CassetteModel::at(dir.path())
                .mode(Mode::Auto)
                .in_front_of(live)
                .unwrap(),
        )
    };
    let first = auto(live.clone());
    with_span("turn", "first", plan_only(q.clone(), first.clone()))
        .await
        .unwrap();
    assert!(first.flush().await.is_clean());

    // Two sessions at once: the first is served the one recording, the
    // second finds it taken and goes live.
    let both = auto(live.clone());
    let (served, went_live) = futures::join!(
        with_span("turn", "served", plan_only(q.clone(), both.clone())),
        with_span("turn", "went live", plan_only(q.clone(), both.clone())),
    );
    assert_eq!(served.unwrap(), went_live.unwrap());
    assert!(both.flush().await.is_clean());
    assert_eq!(live.requests().len(), 2, "one call at first, one went live");

    let store = both.store();
    let mut roots: Vec<String> = store
        .traces("turn")
        .unwrap()
        .traces
        .iter()
        .map(|t| t.trace.root().input.as_str().unwrap().to_owned())
        .collect();
    roots.sort();
    assert_eq!(roots, ["first", "went live"]);
}

#[tokio::test(start_paused = true)]
async fn record_always_calls_live_and_passthrough_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let live = live_model();
    let record = cassette(dir.path(), Mode::Record, &live);
    ask(record.clone(), Question::new(1)).await.unwrap();
    ask(record.clone(), Question::new(1)).await.unwrap();
    assert!(record.flush().await.is_clean());
    assert_eq!(live.requests().len(), 4);
    // Same deterministic session on the paused clock: the same cassette, once.
    assert_eq!(cassette_files(record.store()), 1);

    let pass = cassette(dir.path(), Mode::Passthrough, &live);
    ask(pass.clone(), Question::new(2)).await.unwrap();
    assert!(pass.flush().await.is_clean());
    assert_eq!(live.requests().len(), 6);
    assert_eq!(cassette_files(pass.store()), 1);
    assert_eq!(pass.mode(), Mode::Passthrough);
}

#[test]
fn a_bad_mode_string_is_a_clear_error() {
    let err = "sometimes".parse::<Mode>().unwrap_err();
    assert!(matches!(err, ReplayError::InvalidMode { .. }));
    assert!(
        err.to_string()
            .contains("use `replay`, `record`, `auto` or `passthrough`"),
        "{err}"
    );
}
