//! Misses that point the right way (issue 12, item 9) and the opt-in strict
//! check for recorded calls a replay left unused (issue 12, item 3).

use std::sync::Arc;

use serde_json::json;
use tracedeck::replay::{CassetteModel, Replayer, TraceOutcome};
use tracedeck::{Collector, Mode, Model, ModelError, ModelRequest, Player, Recorder, Script, ScriptedModel, Store, Trace, with_span};
use tracedeck::replay::PlaybackOptions;

use crate::common::{Question, live_model, session};

fn support(text: &str) -> ModelRequest {
    ModelRequest::new("m")
        .system("You are a support agent.")
        .user(text)
}

/// One trace (key `support`) per request, each asking it once.
async fn recorded(requests: &[ModelRequest]) -> Vec<Trace> {
    let traces = Collector::new();
    let model = Recorder::new(ScriptedModel::new(Script::text("ok")), traces.clone());
    for (i, request) in requests.iter().enumerate() {
        with_span("support", i, async {
            model.generate(request.clone()).await
        })
        .await
        .unwrap();
    }
    traces.take()
}

fn miss(err: ModelError) -> (String, String) {
    match err {
        ModelError::CassetteMiss { key, detail } => (key, detail),
        other => panic!("expected CassetteMiss, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_closest_recording_is_the_one_whose_request_differs_least() {
    // Each recorded request differs from the new one in exactly one place
    // (the user's text): the tie is broken by how alike the texts are, not by
    // which was recorded first.
    let player = Player::from_traces(
        "support",
        recorded(&[
            support("Do you sell gift cards?"),
            support("Can I change the shipping address of order B2203?"),
            support("Where is my order A1001? It has not arrived yet."),
        ])
        .await,
    );
    let (_, detail) = miss(
        player
            .generate(support("Where is my order A1002? It has not arrived yet."))
            .await
            .unwrap_err(),
    );
    assert!(
        detail.contains("closest recorded request (trace 2, span #1) in 1 place(s)"),
        "{detail}"
    );
    assert!(detail.contains("A1001"), "{detail}");
    assert!(!detail.contains("gift cards"), "{detail}");

    // Fewer differing leaves beat a closer text: a recording that differs
    // only in the text wins over one with the same text and three new fields.
    let player = Player::from_traces(
        "support",
        recorded(&[
            support("Where is my order A1002?").extra("metadata", json!({"a": 1, "b": 2, "c": 3})),
            support("Where is my order A1001?"),
        ])
        .await,
    );
    let (_, detail) = miss(
        player
            .generate(support("Where is my order A1002?"))
            .await
            .unwrap_err(),
    );
    assert!(
        detail.contains("closest recorded request (trace 1, span #1)"),
        "{detail}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_miss_suggests_ignoring_only_volatile_fields_never_a_user_message() {
    let player = Player::from_traces(
        "support",
        recorded(&[support("Where is my order A1001?")
            .extra("metadata", json!({"request_id": "r-1"}))
            .temperature(0.0)])
        .await,
    );

    // A changed question is never something to ignore.
    let (_, detail) = miss(
        player
            .generate(
                support("Where is my order A1002?")
                    .extra("metadata", json!({"request_id": "r-1"}))
                    .temperature(0.0),
            )
            .await
            .unwrap_err(),
    );
    assert!(!detail.contains(".ignore_path("), "{detail}");

    // A new message appended by the user is not either.
    let (_, detail) = miss(
        player
            .generate(
                support("Where is my order A1001?")
                    .user("Hello?")
                    .extra("metadata", json!({"request_id": "r-1"}))
                    .temperature(0.0),
            )
            .await
            .unwrap_err(),
    );
    assert!(!detail.contains(".ignore_path("), "{detail}");

    // A changed request id is, alongside a changed temperature.
    let (_, detail) = miss(
        player
            .generate(
                support("Where is my order A1001?")
                    .extra("metadata", json!({"request_id": "r-2"}))
                    .temperature(0.5),
            )
            .await
            .unwrap_err(),
    );
    assert!(
        detail.contains(r#".ignore_path("/extra/metadata/request_id")"#),
        "{detail}"
    );
    assert!(!detail.contains(r#"ignore_path("/settings"#), "{detail}");
    assert!(
        detail.contains("The other differences would still miss."),
        "the temperature still differs: {detail}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_hint_names_what_the_api_in_use_reads() {
    let traces = recorded(&[support("Where is my order A1001?")]).await;
    let changed = support("Where is my order A1002?");

    // A Player only replays: TRACEDECK_MODE means nothing to it.
    let player = Player::from_traces("support", traces.clone());
    let (_, detail) = miss(player.generate(changed.clone()).await.unwrap_err());
    assert!(detail.contains("`Player`"), "{detail}");
    assert!(!detail.contains("TRACEDECK_MODE"), "{detail}");

    // Nor does replay() / Replayer.
    let report = Replayer::from_traces("support", traces.clone())
        .run(|_: usize, model: Arc<dyn Model>| {
            let changed = changed.clone();
            async move { model.generate(changed).await.map(|r| r.text) }
        })
        .await
        .unwrap();
    let TraceOutcome::Failed { reason } = &report.traces[0].outcome else {
        panic!("{report}")
    };
    assert!(reason.contains("`replay()`"), "{reason}");
    assert!(!reason.contains("TRACEDECK_MODE"), "{reason}");

    // A CassetteModel given its mode in code names that setting.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    write_to(&store, &traces).await;
    let model = CassetteModel::on(store)
        .mode(Mode::Replay)
        .in_front_of(ScriptedModel::new(Script::text("live")))
        .unwrap();
    let (_, detail) = miss(model.generate(changed.clone()).await.unwrap_err());
    assert!(detail.contains(".mode(Mode::Auto)"), "{detail}");
    assert!(
        detail.contains("TRACEDECK_MODE is not read"),
        "the mode was set in code: {detail}"
    );
}

async fn write_to(store: &Store, traces: &[Trace]) {
    for trace in traces {
        store.write(trace).unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_cassette_model_over_the_whole_folder_names_the_real_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    write_to(
        &store,
        &recorded(&[support("Where is my order A1001?")]).await,
    )
    .await;
    let model = CassetteModel::on(store)
        .mode(Mode::Replay)
        .in_front_of(ScriptedModel::new(Script::text("live")))
        .unwrap();
    let (key, detail) = miss(
        model
            .generate(support("Where is my order A1002?"))
            .await
            .unwrap_err(),
    );
    assert_eq!(key, "support", "{detail}");
    assert!(!detail.contains('*'), "{detail}");
    assert!(
        detail.contains("Searched every key in the store (1): support"),
        "{detail}"
    );

    // An empty folder has no key to name, and says so.
    let empty = tempfile::tempdir().unwrap();
    let model = CassetteModel::at(empty.path())
        .mode(Mode::Replay)
        .in_front_of(ScriptedModel::new(Script::text("live")))
        .unwrap();
    let (key, detail) = miss(model.generate(support("Hi")).await.unwrap_err());
    assert_eq!(key, "(none: the store has no recordings)", "{detail}");
    assert!(
        detail.contains("There is no recorded model call."),
        "{detail}"
    );
}

/// The changed function: question 2 asks about something else.
async fn changed_prompt(q: Question, model: Arc<dyn Model>) -> Result<String, String> {
    let q = match q.id {
        2 => Question {
            text: "question 2: what is 2 cubed?".into(),
            ..q
        },
        _ => q,
    };
    session(q, model).await
}

#[tokio::test(start_paused = true)]
async fn a_replay_report_shows_a_miss_once_as_text() {
    let traces = Collector::new();
    let live = Arc::new(Recorder::new(live_model(), traces.clone()));
    for id in 1..=2 {
        let q = Question::new(id);
        with_span("turn", q.clone(), session(q, live.clone()))
            .await
            .unwrap();
    }
    let report = Replayer::from_traces("turn", traces.take())
        .run(changed_prompt)
        .await
        .unwrap();

    let text = report.to_string();
    assert_eq!(
        text.matches("no recorded call").count(),
        1,
        "the miss is shown once:\n{text}"
    );
    assert!(!text.contains("\\n") && !text.contains("\\\""), "{text}");
    assert!(
        text.contains(r#"/messages/0/content/0/text: "question 2: what is 2 squared?" → "question 2: what is 2 cubed?""#),
        "{text}"
    );

    let snapshot = serde_json::to_string(&report.snapshot()).unwrap();
    assert_eq!(
        snapshot.matches("no recorded call").count(),
        1,
        "the snapshot shows the miss once:\n{snapshot}"
    );
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_yaml_snapshot!("replay_report_miss", report.snapshot());
    });
}

/// Makes two independent calls and answers with the first.
async fn two_calls(q: Question, model: Arc<dyn Model>) -> Result<String, String> {
    let first = one_call(q.clone(), Arc::clone(&model)).await?;
    model
        .generate(ModelRequest::new("m").user(format!("double-check {}", q.text)))
        .await
        .map_err(|e| e.to_string())?;
    Ok(first)
}

/// The changed program: only the first call.
async fn one_call(q: Question, model: Arc<dyn Model>) -> Result<String, String> {
    model
        .generate(crate::common::plan_request(&q))
        .await
        .map(|r| r.text)
        .map_err(|e| e.to_string())
}

#[tokio::test(start_paused = true)]
async fn strict_unused_calls_fail_a_replay_that_makes_fewer_calls() {
    let traces = Collector::new();
    let live = Arc::new(Recorder::new(live_model(), traces.clone()));
    let q = Question::new(1);
    with_span("turn", q.clone(), two_calls(q, live.clone()))
        .await
        .unwrap();
    let traces = traces.take();

    // Lenient by default: fewer calls is a change, not a failure.
    let lenient = Replayer::from_traces("turn", traces.clone())
        .run(one_call)
        .await
        .unwrap();
    assert_eq!(
        lenient.traces[0].outcome,
        TraceOutcome::Changed,
        "{lenient}"
    );
    assert!(!PlaybackOptions::new().unused_calls_fail());

    // A player lists what it has not served.
    let player = Player::from_traces("turn", traces.clone());
    assert_eq!(player.unused_calls().len(), 2);
    one_call(Question::new(1), Arc::new(player.clone()))
        .await
        .unwrap();
    let unused = player.unused_calls();
    assert_eq!(unused.len(), 1, "{unused:?}");
    assert!(
        unused[0].starts_with("turn > llm[1] (trace 0, span #2): \"double-check question 1"),
        "{unused:?}"
    );

    // Strict: the trace fails and names the call it did not make.
    let strict = Replayer::from_traces("turn", traces.clone())
        .options(PlaybackOptions::new().fail_on_unused_calls())
        .run(one_call)
        .await
        .unwrap();
    let TraceOutcome::Failed { reason } = &strict.traces[0].outcome else {
        panic!("{strict}")
    };
    assert!(
        reason.contains("1 recorded call(s) were not used"),
        "{reason}"
    );
    assert!(reason.contains("turn > llm[1]"), "{reason}");
    assert!(reason.contains("double-check"), "{reason}");

    // Strict and every call made: unchanged.
    let all = Replayer::from_traces("turn", traces)
        .options(PlaybackOptions::new().fail_on_unused_calls())
        .run(two_calls)
        .await
        .unwrap();
    all.assert_unchanged();
}
