//! What must be shown 3: 32 traces of one key replayed concurrently through
//! one shared Player: every `llm` span lands under its own root, and the
//! report equals the one from a sequential replay.

use std::sync::Arc;

use futures::future::join_all;
use tracedeck::{Collector, Model, Player, Recorder, Store, Trace, replay::Replayer, with_span};

use crate::common::{Question, live_model, session};

const N: u32 = 32;

async fn record_concurrently(store: &Store) {
    let live: Arc<Recorder<_>> = Arc::new(Recorder::new(live_model(), store.sink()));
    let runs = (0..N).map(|id| {
        let q = Question::new(id);
        let model: Arc<dyn Model> = live.clone();
        with_span("turn", q.clone(), session(q, model))
    });
    assert!(join_all(runs).await.iter().all(Result::is_ok));
    assert!(live.flush().await.is_clean());
}

/// Every call of `trace` hangs under its root and asked about its root's question.
fn assert_attributed(trace: &Trace) {
    let q: Question = serde_json::from_value(trace.root().input.clone().into()).unwrap();
    let marker = format!("question {}:", q.id);
    let calls: Vec<_> = trace.llm_spans().collect();
    assert_eq!(calls.len(), 2, "{}", trace.render());
    for call in calls {
        assert_eq!(trace.ancestors(call.id).last(), Some(&trace.root().id));
        assert!(
            call.input.to_string().contains(&marker),
            "call {} of root {} asked: {}",
            call.id,
            q.id,
            call.input
        );
        let answer = call.response().unwrap().text;
        assert!(
            answer.contains(&marker),
            "call {} of root {} got {answer:?}",
            call.id,
            q.id
        );
    }
}

#[tokio::test(start_paused = true)]
async fn one_shared_player_serves_concurrent_roots_each_under_its_own_root() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    record_concurrently(&store).await;

    let player = Player::from_store(&store, "turn").unwrap();
    let replays = Collector::new();
    let shared: Arc<dyn Model> = Arc::new(Recorder::new(player.clone(), replays.clone()));
    let tasks: Vec<_> = (0..N)
        .map(|id| {
            let q = Question::new(id);
            let model = Arc::clone(&shared);
            tokio::spawn(with_span("turn", q.clone(), session(q, model)))
        })
        .collect();
    for (id, task) in (0..N).zip(tasks) {
        let answer = task.await.unwrap().unwrap();
        assert_eq!(answer, format!("answer to {}", Question::new(id).text));
    }
    assert_eq!(player.remaining(), 0);
    let traces = replays.take();
    assert_eq!(traces.len(), N as usize);
    traces.iter().for_each(assert_attributed);
}

#[tokio::test(start_paused = true)]
async fn a_concurrent_replay_reports_exactly_what_a_sequential_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    record_concurrently(&store).await;

    let concurrent = Replayer::new(&store, "turn")
        .concurrency(N as usize)
        .run(session)
        .await
        .unwrap();
    let sequential = Replayer::new(&store, "turn")
        .concurrency(1)
        .run(session)
        .await
        .unwrap();
    concurrent.assert_unchanged();
    assert_eq!(concurrent.traces.len(), N as usize);
    assert_eq!(concurrent, sequential);
    for t in &concurrent.traces {
        assert_attributed(t.replayed.as_ref().unwrap());
    }
}
