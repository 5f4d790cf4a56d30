//! Contract 10: live calls are recorded on the real clock, never with a
//! paused clock's invented times (issue 12, item 5).
//!
//! A live adapter talks to a loopback server that waits before its headers
//! and its content. Under `start_paused = true` tokio auto-advances over
//! those waits (the server runs on the same runtime), so the recorded
//! times would be fiction: the call still succeeds (contract 3), but the
//! trace is refused with `SinkError::PausedClock`, reported by `flush()`,
//! and nothing is written. On the real clock the same call records fine.
//! A `ScriptedModel` on a paused clock records exactly as before: that is
//! what the paused clock is for. No wall-clock duration is asserted.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use tracedeck::providers::{Anthropic, OpenAi, OpenAiResponses};
use tracedeck::sink::FlushReport;
use tracedeck::sink::SinkError;
use tracedeck::testing::{Reply, SseServer};
use tracedeck::{
    CassetteModel, Mode, Model, ModelRequest, Recorder, Script, ScriptedModel, Store, StreamPart,
    with_span,
};

const STREAM: &str = concat!(
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: [DONE]\n\n",
);

/// An SSE reply whose headers come after `wait` and whose body comes
/// `wait` later again.
fn slow_reply(wait: Duration) -> Reply {
    Reply::sse().headers_after(wait).chunk_after(wait, STREAM)
}

/// Streams one call through `model` under the key `key` and returns its text.
async fn stream_one(model: &dyn Model, key: &str) -> String {
    with_span(key, "q", async {
        let mut parts = model
            .stream(ModelRequest::new("gpt-4o-mini").user("hi"))
            .await
            .expect("the live call itself never fails for recording's sake");
        let mut text = String::new();
        while let Some(part) = parts.next().await {
            if let StreamPart::TextDelta { text: delta, .. } = part.unwrap() {
                text.push_str(&delta);
            }
        }
        text
    })
    .await
}

/// How many cassette files lie anywhere under `dir`.
fn cassettes(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .map(|path| {
            if path.is_dir() {
                cassettes(&path)
            } else {
                usize::from(path.extension().is_some_and(|e| e == "json"))
            }
        })
        .sum()
}

fn assert_paused_clock_loss(report: &FlushReport, key: &str) {
    assert_eq!(report.lost, 1, "{report:?}");
    assert_eq!(report.delivered, 0, "{report:?}");
    let [
        SinkError::PausedClock {
            key: lost_key,
            tokio_us,
            ..
        },
    ] = report.errors.as_slice()
    else {
        panic!("expected one PausedClock loss: {report:?}");
    };
    assert_eq!(lost_key, key);
    // Auto-advance skipped both of the server's waits.
    assert!(*tokio_us >= 2 * 30_000_000, "{report:?}");
    let message = report.errors[0].to_string();
    assert!(message.contains("start_paused"), "{message}");
    assert!(message.contains("#[tracedeck::test]"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn a_live_call_on_a_paused_clock_is_refused_and_reported_not_recorded() {
    let server = SseServer::serve(slow_reply(Duration::from_secs(30)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let live = OpenAi::new("gpt-4o-mini")
        .api_key("sk-test")
        .base_url(server.url());
    let recorder = Recorder::new(live, store.sink());
    assert!(recorder.is_live());

    assert_eq!(stream_one(&recorder, "paused").await, "Hello");

    let report = recorder.flush().await;
    assert_paused_clock_loss(&report, "paused");
    assert_eq!(cassettes(dir.path()), 0, "nothing invented is written");
}

#[tokio::test(start_paused = true)]
async fn a_cassette_model_recording_on_a_paused_clock_reports_the_loss() {
    let server = SseServer::serve(slow_reply(Duration::from_secs(30)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let live = OpenAi::new("gpt-4o-mini")
        .api_key("sk-test")
        .base_url(server.url());
    let model = CassetteModel::at(dir.path())
        .mode(Mode::Record)
        .in_front_of(live)
        .unwrap();
    assert!(model.is_live());

    assert_eq!(stream_one(&model, "paused-cassette").await, "Hello");

    let report = model.flush().await;
    assert_paused_clock_loss(&report, "paused-cassette");
    assert_eq!(cassettes(dir.path()), 0);
}

#[tokio::test]
async fn the_same_live_call_on_the_real_clock_is_recorded() {
    let server = SseServer::serve(slow_reply(Duration::from_millis(20)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let live = OpenAi::new("gpt-4o-mini")
        .api_key("sk-test")
        .base_url(server.url());
    let recorder = Recorder::new(live, store.sink());

    assert_eq!(stream_one(&recorder, "real").await, "Hello");

    let report = recorder.flush().await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.delivered, 1);
    let traces = Store::open(dir.path())
        .unwrap()
        .traces("real")
        .unwrap()
        .traces;
    let [stored] = traces.as_slice() else {
        panic!("one cassette: {traces:?}")
    };
    let call = &stored.trace.spans[1];
    assert!(call.timing.ttft_us.is_some(), "{call:?}");
}

#[tokio::test(start_paused = true)]
async fn a_scripted_model_on_a_paused_clock_records_exact_virtual_times() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let script = Script::new()
        .open_after(Duration::from_secs(30))
        .part(StreamPart::StreamStart)
        .part_after(Duration::from_secs(30), StreamPart::text("Hello"));
    let scripted = ScriptedModel::new(script);
    assert!(!scripted.is_live());
    let recorder = Recorder::new(scripted, store.sink());

    assert_eq!(stream_one(&recorder, "scripted").await, "Hello");

    let report = recorder.flush().await;
    assert!(report.is_clean(), "{report:?}");
    let traces = Store::open(dir.path())
        .unwrap()
        .traces("scripted")
        .unwrap()
        .traces;
    let call = &traces[0].trace.spans[1];
    assert_eq!(call.timing.opened_us, Some(30_000_000));
    assert_eq!(call.timing.ttft_us, Some(60_000_000));
}

#[test]
fn every_http_adapter_says_it_is_live_and_a_replaying_cassette_does_not() {
    assert!(OpenAi::new("m").is_live());
    assert!(OpenAiResponses::new("m").is_live());
    assert!(Anthropic::new("m").is_live());
    let dir = tempfile::tempdir().unwrap();
    let replaying = CassetteModel::at(dir.path())
        .mode(Mode::Replay)
        .in_front_of(OpenAi::new("m"))
        .unwrap();
    assert!(!replaying.is_live());
}

#[tokio::test(start_paused = true)]
async fn a_live_generate_on_a_paused_clock_is_refused_too_and_still_answers() {
    let body = serde_json::json!({
        "id": "c1",
        "model": "gpt-4o-mini",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Hello"},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1}
    });
    let server = SseServer::serve(Reply::json(200, &body).headers_after(Duration::from_secs(60)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(
        OpenAi::new("gpt-4o-mini")
            .api_key("sk-test")
            .base_url(server.url()),
        Store::open(dir.path()).unwrap().sink(),
    );
    let answer = with_span("paused-generate", "q", async {
        recorder
            .generate(ModelRequest::new("gpt-4o-mini").user("hi"))
            .await
    })
    .await
    .expect("the call goes through");
    assert_eq!(answer.text, "Hello");

    let report = recorder.flush().await;
    assert!(
        matches!(report.errors.as_slice(), [SinkError::PausedClock { key, tokio_us, .. }]
            if key == "paused-generate" && *tokio_us >= 60_000_000),
        "{report:?}"
    );
    assert_eq!(cassettes(dir.path()), 0);
}
