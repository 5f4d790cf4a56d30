//! Matching: hashes after redaction and ignored paths, recorded order,
//! repeats, and misses that say what changed and what to do.

use futures::StreamExt;
use serde_json::json;
use tracedeck::cassette::Redaction;
use tracedeck::replay::ReplayError;
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, Player, Recorder, Script, ScriptedModel, Store,
    Trace, with_span,
};

fn ask(text: &str) -> ModelRequest {
    ModelRequest::new("m").user(text).temperature(0.0)
}

/// One trace per answer, each asking `request` once.
async fn recorded(request: &ModelRequest, answers: &[&str]) -> Vec<Trace> {
    let traces = Collector::new();
    for answer in answers {
        let model = Recorder::new(ScriptedModel::new(Script::text(*answer)), traces.clone());
        with_span("k", 0, async {
            model.generate(request.clone()).await.unwrap()
        })
        .await;
    }
    traces.take()
}

fn miss_detail(err: ModelError) -> String {
    match err {
        ModelError::CassetteMiss { key, detail } => {
            assert_eq!(key, "k");
            detail
        }
        other => panic!("expected CassetteMiss, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn identical_requests_are_served_in_recorded_order_then_miss() {
    let request = ask("same");
    let player = Player::from_traces("k", recorded(&request, &["first", "second"]).await);
    assert_eq!(
        player.generate(request.clone()).await.unwrap().text,
        "first"
    );
    assert_eq!(
        player.clone().generate(request.clone()).await.unwrap().text,
        "second"
    );
    assert_eq!(player.remaining(), 0);
    let detail = miss_detail(player.generate(request.clone()).await.unwrap_err());
    assert!(detail.contains("recorded 2 time(s)"), "{detail}");
    assert!(detail.contains(".allow_repeats()"), "{detail}");
}

#[tokio::test(start_paused = true)]
async fn allow_repeats_serves_the_last_recording_again() {
    let request = ask("same");
    let player =
        Player::from_traces("k", recorded(&request, &["first", "second"]).await).allow_repeats();
    let mut texts = Vec::new();
    for _ in 0..4 {
        texts.push(player.generate(request.clone()).await.unwrap().text);
    }
    assert_eq!(texts, ["first", "second", "second", "second"]);
}

#[tokio::test(start_paused = true)]
async fn a_miss_shows_the_changed_paths_against_the_closest_request() {
    let player = Player::from_traces(
        "k",
        [
            recorded(&ask("Capital of France?"), &["Paris"]).await,
            recorded(
                &ModelRequest::new("other").user("unrelated").max_tokens(5),
                &["x"],
            )
            .await,
        ]
        .concat(),
    );
    let changed = ModelRequest::new("m")
        .user("Capital of Spain?")
        .temperature(0.7);
    let err = player.generate(changed.clone()).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("no recorded call in cassette key `k` matches this request"),
        "{message}"
    );
    let detail = miss_detail(err);
    assert!(
        detail.contains("(trace 0, span #1) in 2 place(s)"),
        "{detail}"
    );
    assert!(
        detail
            .contains(r#"/messages/0/content/0/text: "Capital of France?" → "Capital of Spain?""#),
        "{detail}"
    );
    assert!(
        detail.contains("/settings/temperature: 0.0 → 0.7"),
        "{detail}"
    );
    assert!(detail.contains("This `Player` only replays"), "{detail}");
    assert!(
        detail.contains(&format!("request sha256 {}", player.request_hash(&changed))),
        "{detail}"
    );
    // A changed question is a real change: nothing to ignore.
    assert!(!detail.contains(".ignore_path("), "{detail}");
}

#[tokio::test(start_paused = true)]
async fn ignored_paths_match_requests_that_differ_only_there() {
    let traces = recorded(&ask("hi").extra("request_id", json!("r-1")), &["hello"]).await;
    let changed = ask("hi").temperature(0.9).extra("request_id", json!("r-2"));
    let strict = Player::from_traces("k", traces.clone());
    assert!(matches!(
        strict.generate(changed.clone()).await,
        Err(ModelError::CassetteMiss { .. })
    ));

    let lenient = Player::from_traces("k", traces)
        .ignore_path("/settings/temperature")
        .unwrap()
        .ignore_path("/extra/*")
        .unwrap();
    assert_eq!(
        lenient.generate(changed.clone()).await.unwrap().text,
        "hello"
    );
    assert_eq!(
        lenient.request_hash(&changed),
        lenient.request_hash(&ask("hi"))
    );
    assert_ne!(
        strict.request_hash(&changed),
        strict.request_hash(&ask("hi"))
    );

    assert!(matches!(
        Player::from_traces("k", []).ignore_path("settings"),
        Err(ReplayError::InvalidIgnoredPath { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_store_player_matches_live_requests_after_the_stores_redaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path())
        .unwrap()
        .with_redaction(Redaction::new().path("/extra/user_email"));
    let request = ask("hi").extra("user_email", json!("ada@example.com"));
    let model = Recorder::new(ScriptedModel::new(Script::text("hello")), store.sink());
    with_span("k", 0, async {
        model.generate(request.clone()).await.unwrap()
    })
    .await;
    assert!(model.flush().await.is_clean());
    let bytes: Vec<u8> = store
        .traces("k")
        .unwrap()
        .traces
        .iter()
        .flat_map(|t| std::fs::read(&t.path).unwrap())
        .collect();
    assert!(
        !String::from_utf8(bytes)
            .unwrap()
            .contains("ada@example.com")
    );

    let player = Player::from_store(&store, "k").unwrap();
    assert_eq!(player.generate(request).await.unwrap().text, "hello");
}

#[tokio::test(start_paused = true)]
async fn streams_are_not_made_from_whole_answers_but_whole_answers_from_streams() {
    let traces = Collector::new();
    let model = Recorder::new(ScriptedModel::new(Script::text("streamed")), traces.clone());
    with_span("k", 0, async {
        model.generate(ask("g")).await.unwrap();
        let mut parts = model.stream(ask("s")).await.unwrap();
        while parts.next().await.is_some() {}
    })
    .await;
    let player = Player::from_traces("k", traces.take());
    let detail = miss_detail(player.stream(ask("g")).await.err().unwrap());
    assert!(
        detail.contains("recorded as a `generate` call (trace 0, span #1)"),
        "{detail}"
    );
    assert_eq!(player.generate(ask("s")).await.unwrap().text, "streamed");
}

#[tokio::test(start_paused = true)]
async fn a_player_with_nothing_recorded_says_so() {
    let player = Player::from_traces("k", []);
    assert!(player.is_empty());
    let detail = miss_detail(player.generate(ask("hi")).await.unwrap_err());
    assert!(
        detail.contains("There is no recorded model call."),
        "{detail}"
    );
}

/// Asks `request_id` twice, at temperature 0.9: both differ from the one
/// recorded call only at paths the options ignore, and the second is a repeat.
async fn ask_twice(request_id: String, model: std::sync::Arc<dyn Model>) -> Result<String, String> {
    let changed = ask("hi")
        .temperature(0.9)
        .extra("request_id", json!(request_id));
    let mut answers = Vec::new();
    for _ in 0..2 {
        let reply = model
            .generate(changed.clone())
            .await
            .map_err(|e| e.to_string())?;
        answers.push(reply.text);
    }
    Ok(answers.join(" "))
}

#[tokio::test(start_paused = true)]
async fn one_set_of_playback_options_serves_the_player_the_replayer_and_the_cassette_model() {
    use tracedeck::replay::TraceOutcome;
    use tracedeck::{CassetteModel, Mode};
    use tracedeck::replay::{PlaybackOptions, Replayer};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let model = Recorder::new(ScriptedModel::new(Script::text("hello")), store.sink());
    let request = ask("hi").extra("request_id", json!("r-1"));
    with_span("k", "r-1", async {
        model
            .generate(request.clone())
            .await
            .map(|r| r.text)
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap();
    assert!(model.flush().await.is_clean());

    let options = PlaybackOptions::new()
        .ignore_path("/settings/temperature")
        .unwrap()
        .ignore_path("/extra/*")
        .unwrap()
        .allow_repeats();

    // Without the options every one of the three misses...
    let bare: std::sync::Arc<dyn Model> =
        std::sync::Arc::new(Player::from_store(&store, "k").unwrap());
    assert!(ask_twice("r-2".into(), bare).await.is_err());
    let report = Replayer::new(&store, "k").run(ask_twice).await.unwrap();
    assert!(matches!(
        report.traces[0].outcome,
        TraceOutcome::Failed { .. }
    ));

    // ...and with them each serves both calls from the one recording.
    let player = Player::from_store(&store, "k")
        .unwrap()
        .with_options(options.clone());
    assert_eq!(player.options().ignored_paths().count(), 2);
    assert_eq!(
        ask_twice("r-2".into(), std::sync::Arc::new(player))
            .await
            .unwrap(),
        "hello hello"
    );

    let cassette = CassetteModel::on(store.clone())
        .mode(Mode::Replay)
        .key("k")
        .options(options.clone())
        .in_front_of(ScriptedModel::new(Script::text("live")))
        .unwrap();
    assert_eq!(
        ask_twice("r-2".into(), std::sync::Arc::new(cassette))
            .await
            .unwrap(),
        "hello hello"
    );

    let report = Replayer::new(&store, "k")
        .options(options)
        .run(ask_twice)
        .await
        .unwrap();
    assert!(
        !matches!(report.traces[0].outcome, TraceOutcome::Failed { .. }),
        "{:?}",
        report.traces[0].outcome
    );
    assert_eq!(report.traces[0].replayed.as_ref().unwrap().spans.len(), 3);
}
