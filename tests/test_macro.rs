//! How `#[tracedeck::test]` runs: which clock, which key, what fails the
//! test, and what a typo'd key says. The readable example is
//! `per_test_cassette.rs`; these tests pin their mode (`mode = ..`) or call
//! the attribute's runtime (`tracedeck::__private`) directly, so they do
//! not depend on `CI` or `TRACEDECK_MODE`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use tracedeck::__private::{TestSetupError, TestSpec, runtime};
use tracedeck::{Mode, Model, ModelError, ModelRequest, Script, ScriptedModel, Store, StreamPart};

fn live_model() -> ScriptedModel {
    ScriptedModel::new(
        Script::new()
            .open_after(Duration::from_millis(30))
            .part(StreamPart::StreamStart)
            .part_after(Duration::from_millis(20), StreamPart::text("Paris")),
    )
}

fn question() -> ModelRequest {
    ModelRequest::new("gpt-4o-mini").user("Capital of France?")
}

/// The spec of a test named `name` in this file, its cassettes in `dir`.
fn spec(dir: &Path, name: &'static str) -> TestSpec {
    TestSpec::new(
        env!("CARGO_MANIFEST_DIR"),
        "test_macro",
        "test_macro",
        true,
        name,
    )
    .dir(dir)
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

// Replays `tests/cassettes/test_macro/replay_runs_on_the_paused_clock/`
// (recorded once from `live_model()` with `mode = "record"`).
#[tracedeck::test(live = live_model(), mode = "replay")]
async fn replay_runs_on_the_paused_clock(model: Arc<dyn Model>) {
    let recorded = Store::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cassettes"))
        .unwrap()
        .traces("test_macro/replay_runs_on_the_paused_clock")
        .unwrap();
    assert_eq!(recorded.traces.len(), 1);
    let trace = &recorded.traces[0].trace;
    assert_eq!(
        trace.root().key,
        "test_macro/replay_runs_on_the_paused_clock"
    );
    let ttft_us = trace.spans[1].timing.ttft_us.unwrap();

    let start = Instant::now();
    let mut parts = model.stream(question()).await.unwrap();
    let mut first_text = None;
    while let Some(part) = parts.next().await {
        if part.unwrap().is_content() && first_text.is_none() {
            first_text = Some(start.elapsed());
        }
    }
    // The recorded offset, to tokio's millisecond timer tick: only a paused
    // clock is this exact.
    let first_text = first_text.unwrap();
    assert!(
        first_text >= Duration::from_micros(ttft_us),
        "{first_text:?}"
    );
    assert!(first_text <= Duration::from_micros(ttft_us) + Duration::from_millis(1));
    // `advance` panics unless the clock is paused.
    tokio::time::advance(Duration::from_secs(60)).await;
}

#[tracedeck::test(mode = "replay")]
async fn a_body_without_arguments_runs_too() {
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(3600));
}

#[tracedeck::test(mode = "replay")]
#[should_panic(expected = "`an_err_fails_the_test` returned an error: \"no capital\"")]
async fn an_err_fails_the_test() -> Result<(), String> {
    Err("no capital".to_owned())
}

#[tracedeck::test(mode = "replay")]
async fn an_ok_passes(model: Arc<dyn Model>) -> Result<u32, ModelError> {
    // No live model was built: the replay names itself, not a stand-in.
    assert_eq!(model.info().provider, "replay");
    Ok(7)
}

#[test]
fn record_runs_on_the_real_clock_and_writes_one_cassette_under_the_key() {
    let dir = tempfile::tempdir().unwrap();
    spec(dir.path(), "recorded")
        .mode(Mode::Record)
        .live(live_model)
        .run(|model| async move {
            // `pause` panics when the clock is already paused.
            tokio::time::pause();
            tokio::time::resume();
            let answer = model.generate(question()).await?;
            assert_eq!(answer.text, "Paris");
            Ok::<_, ModelError>(())
        });
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.keys().unwrap(), ["test_macro/recorded"]);
    let recorded = store.traces("test_macro/recorded").unwrap();
    assert_eq!(recorded.traces.len(), 1);
    let trace = &recorded.traces[0].trace;
    assert_eq!(trace.spans.len(), 2, "the test's root and its one call");
    assert_eq!(trace.root().key, "test_macro/recorded");
    assert_eq!(trace.spans[1].parent, Some(trace.root().id));

    // Replayed with no live model at all.
    spec(dir.path(), "recorded")
        .mode(Mode::Replay)
        .run(|model| async move {
            assert_eq!(model.generate(question()).await.unwrap().text, "Paris");
        });
}

#[test]
fn a_failing_run_never_replaces_the_cassette_a_passing_run_recorded() {
    let dir = tempfile::tempdir().unwrap();
    spec(dir.path(), "kept")
        .mode(Mode::Record)
        .live(live_model)
        .run(|model| async move { model.generate(question()).await.map(drop) });
    let store = Store::open(dir.path()).unwrap();
    let before = store.traces("test_macro/kept").unwrap().traces;
    assert_eq!(before.len(), 1);

    // The same test recorded again, but its body fails after the call: its
    // trace must not supersede the good cassette (same key, same root input).
    for failing in [true, false] {
        let run = std::panic::catch_unwind(|| {
            spec(dir.path(), "kept")
                .mode(Mode::Record)
                .live(live_model)
                .run(move |model| async move {
                    model.generate(question()).await?;
                    if failing {
                        return Err(ModelError::other("the assertion after the call failed"));
                    }
                    panic!("the body panicked after the call");
                    #[allow(unreachable_code)]
                    Ok::<_, ModelError>(())
                });
        });
        assert!(run.is_err(), "a failing body fails the test");
    }
    let after = store.traces("test_macro/kept").unwrap().traces;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].hash, before[0].hash, "the good cassette is kept");
}

#[test]
fn a_typo_in_the_key_names_the_key_and_the_keys_nearby() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["answers_question", "asks_back", "unrelated_and_long_name"] {
        spec(dir.path(), name)
            .mode(Mode::Record)
            .live(live_model)
            .run(|model| async move { model.generate(question()).await.map(drop) });
    }
    let typo = spec(dir.path(), "answers_qestion")
        .mode(Mode::Replay)
        .live(live_model);
    assert_eq!(typo.key(), "test_macro/answers_qestion");
    let prepared = typo.prepare().unwrap();
    assert!(prepared.paused());
    let err = runtime(true)
        .unwrap()
        .block_on(prepared.model.generate(question()))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, ModelError::CassetteMiss { key, .. } if key == "test_macro/answers_qestion"),
        "{text}"
    );
    assert!(
        text.contains("Nothing is recorded under key `test_macro/answers_qestion`"),
        "{text}"
    );
    assert!(
        text.contains(
            "Keys nearby in the store (of 3): `test_macro/answers_question`, \
             `test_macro/asks_back`, `test_macro/unrelated_and_long_name`"
        ),
        "{text}"
    );
    assert!(text.contains("#[tracedeck::test]"), "{text}");
    assert!(
        text.contains("`mode = \"auto\"`"),
        "the mode is pinned: {text}"
    );
}

#[test]
fn a_test_without_a_live_model_says_how_to_add_one() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [Mode::Record, Mode::Passthrough] {
        let err = spec(dir.path(), "no_live")
            .mode(mode)
            .prepare()
            .err()
            .unwrap();
        assert!(matches!(err, TestSetupError::NoLiveModel { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("#[tracedeck::test(live = my_live_model())]"),
            "{err}"
        );
    }

    // Auto without a live model can only replay: it runs as Replay, on the
    // paused clock, and a miss says how to add the live model.
    let prepared = spec(dir.path(), "no_live")
        .mode(Mode::Auto)
        .prepare()
        .unwrap();
    assert_eq!(prepared.mode, Mode::Replay);
    assert!(prepared.paused());
    let err = runtime(true)
        .unwrap()
        .block_on(prepared.model.generate(question()))
        .unwrap_err();
    assert!(err.to_string().contains("names no live model"), "{err}");
    assert!(
        err.to_string().contains("The store ")
            && err.to_string().contains("holds no cassettes at all"),
        "{err}"
    );
}

#[test]
fn the_live_model_is_not_built_in_replay() {
    let dir = tempfile::tempdir().unwrap();
    spec(dir.path(), "never_live")
        .mode(Mode::Replay)
        .live(|| -> ScriptedModel { panic!("built the live model in Replay mode") })
        .run(|_model| async {});
}

#[test]
fn a_lost_recording_fails_the_test() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the key's folder must go: the cassette cannot be written.
    std::fs::write(dir.path().join("test_macro"), b"not a folder").unwrap();
    let run = catch_unwind(AssertUnwindSafe(|| {
        spec(dir.path(), "lost")
            .mode(Mode::Record)
            .live(live_model)
            .run(|model| async move { model.generate(question()).await.map(drop) });
    }));
    let text = panic_text(run.unwrap_err());
    assert!(
        text.contains("`lost`: 1 recording(s) of cassette key `test_macro/lost` were lost"),
        "{text}"
    );
}

mod nested {
    use super::*;

    // The key is the module path (this file's name first) then the name.
    #[tracedeck::test(mode = "replay")]
    async fn keys_follow_the_module_path(model: Arc<dyn Model>) {
        let err = model.generate(question()).await.unwrap_err();
        assert!(
            matches!(&err, ModelError::CassetteMiss { key, .. }
                if key == "test_macro/nested/keys_follow_the_module_path"),
            "{err}"
        );
    }

    macro_rules! named_by_macro {
        ($name:ident, $key:literal) => {
            #[tracedeck::test(mode = "replay")]
            async fn $name(model: Arc<dyn Model>) {
                let err = model.generate(question()).await.unwrap_err();
                assert!(
                    matches!(&err, ModelError::CassetteMiss { key, .. } if key == $key),
                    "{err}"
                );
            }
        };
    }

    named_by_macro!(first_case, "test_macro/nested/first_case");
    named_by_macro!(second_case, "test_macro/nested/second_case");
}
