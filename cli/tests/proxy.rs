//! `tracedeck proxy` end to end over loopback: record from an upstream
//! (the bundled simulator or a scripted SSE server), stop the upstream,
//! replay, and compare content and part timing; the failure cases; and real
//! clients (curl, Python's `openai`).
//!
//! Time here is real (sockets): no test asserts on a wall-clock duration.
//! Timing is compared through cassettes: a replayed call re-recorded by a
//! second proxy has every part at or after its recorded offset (replay
//! waits until each offset; it can be late on a loaded machine, never
//! early), in the same order.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tracedeck::cassette::Store;
use tracedeck::model::FinishReason;
use tracedeck::providers::BodyDecoder;
use tracedeck::providers::codec::WireProtocol;
use tracedeck::providers::openai_chat::decode_chat_request;
use tracedeck::replay::Speed;
use tracedeck::span::{RecordedPart, SpanStatus};
use tracedeck::testing::{OpenAiSimulator, Reply, SimulatorTiming, SseServer};
use tracedeck::{Mode, Player, Span, StreamPart};
use tracedeck_cli::proxy::{self, ProxyConfig, ProxyHandle};

const SECRET: &str = "sk-test-proxy-secret-0123456789";

fn fast_timing() -> SimulatorTiming {
    SimulatorTiming {
        headers: Duration::from_millis(20),
        first_token: Duration::from_millis(60),
        token_gap: Duration::from_millis(5),
    }
}

/// The simulator's origin (its base URL without `/v1`).
fn origin(sim: &OpenAiSimulator) -> String {
    sim.base_url().trim_end_matches("/v1").to_owned()
}

async fn start(dir: &Path, mode: Mode, upstream: Option<String>) -> ProxyHandle {
    let mut config = ProxyConfig::new(dir, mode);
    config.upstream = upstream;
    proxy::serve(config).await.expect("the proxy starts")
}

fn chat_body(question: &str, stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [{"role": "user", "content": question}],
    })
}

struct Answer {
    status: u16,
    body: Bytes,
    /// Whether the body ended in a transport error.
    broken: bool,
}

async fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let client = reqwest::Client::new();
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {SECRET}"))
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the proxy answers");
    let status = response.status().as_u16();
    let mut stream = response.bytes_stream();
    let mut bytes = Vec::new();
    let mut broken = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(_) => {
                broken = true;
                break;
            }
        }
    }
    Answer {
        status,
        body: Bytes::from(bytes),
        broken,
    }
}

fn decode(protocol: WireProtocol, body: &[u8]) -> Vec<StreamPart> {
    let mut decoder = BodyDecoder::new(protocol.decoder("test"));
    let mut parts = decoder.push(body).expect("a well-formed stream");
    decoder.finish_into(&mut parts).expect("a whole stream");
    parts
}

fn text_of(parts: &[StreamPart]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            StreamPart::TextDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Every `llm` span recorded under `key`, in content order.
fn calls(store: &Store, key: &str) -> Vec<Span> {
    let traces = store.traces(key).expect("the key's cassettes load");
    assert!(traces.errors.is_empty(), "{:?}", traces.errors);
    traces
        .traces
        .iter()
        .flat_map(|t| t.trace.spans.iter().filter(|s| s.is_llm()).cloned())
        .collect()
}

fn content_offsets(parts: &[RecordedPart]) -> Vec<(u64, StreamPart)> {
    parts
        .iter()
        .filter(|p| p.part.is_content())
        .map(|p| (p.offset_us, p.part.clone()))
        .collect()
}

/// Every file under `dir`, read as text, contains no `needle`.
fn assert_nowhere(dir: &Path, needle: &str) {
    for entry in walk(dir) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        assert!(
            !text.contains(needle),
            "{} holds the secret",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Replayed timing, checked through a second proxy that records what the
/// replaying proxy serves: every content part at or after its original
/// offset (replay waits until each; it may be late, never early), in the
/// same order, with the same content.
fn assert_replayed_timing(original: &Span, rerecorded: &Span) {
    let want = content_offsets(&original.parts);
    let got = content_offsets(&rerecorded.parts);
    assert_eq!(
        got.iter().map(|(_, p)| p).collect::<Vec<_>>(),
        want.iter().map(|(_, p)| p).collect::<Vec<_>>(),
        "the same content parts, in order"
    );
    for ((got_us, part), (want_us, _)) in got.iter().zip(&want) {
        assert!(
            got_us >= want_us,
            "{part:?} replayed at {got_us} µs, before its recorded {want_us} µs"
        );
    }
    let (Some(got_ttft), Some(want_ttft)) = (rerecorded.timing.ttft_us, original.timing.ttft_us)
    else {
        panic!("both calls have a TTFT");
    };
    assert!(got_ttft >= want_ttft);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_a_stream_then_replays_it_with_the_upstream_gone() {
    let recorded = TempDir::new().unwrap();
    let sim = OpenAiSimulator::with_timing(fast_timing()).await.unwrap();
    let recorder = start(recorded.path(), Mode::Record, Some(origin(&sim))).await;
    let body = chat_body("Tell me about tokio", true).to_string();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    let live = post(
        &format!("{}/v1/chat/completions", recorder.url()),
        &[
            ("x-tracedeck-key", "chat-turn"),
            ("traceparent", traceparent),
        ],
        body.as_bytes(),
    )
    .await;
    assert_eq!(live.status, 200);
    assert!(!live.broken);
    let live_parts = decode(WireProtocol::ChatCompletions, &live.body);
    assert!(text_of(&live_parts).split_whitespace().count() >= 25);
    assert!(recorder.flush().await.is_clean());
    // The upstream got the key; the proxy's own header stayed home.
    let seen = &sim.requests()[0];
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    assert_eq!(seen.header("x-tracedeck-key"), None);
    drop(sim);

    let store = Store::open(recorded.path()).unwrap();
    let traces = store.traces("chat-turn").unwrap().traces;
    assert_eq!(traces.len(), 1);
    let trace = &traces[0].trace;
    let root = trace.root();
    assert_eq!(
        root.input["traceparent"]["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(root.input["traceparent"]["parent_id"], "00f067aa0ba902b7");
    assert_eq!(
        root.input["request"]["messages"][0]["content"],
        "Tell me about tokio"
    );
    let original = calls(&store, "chat-turn").remove(0);
    assert_eq!(original.parent, Some(root.id));
    assert_eq!(original.status, SpanStatus::Ok);
    assert!(original.timing.ttft_us.is_some());
    assert_eq!(
        original
            .parts
            .iter()
            .map(|p| p.part.clone())
            .collect::<Vec<_>>(),
        live_parts,
        "the recording holds what the client got"
    );
    assert_nowhere(recorded.path(), SECRET);
    assert!(store.verify().is_clean());

    // Replay with the simulator gone; a second proxy records what it serves.
    let replayer = start(recorded.path(), Mode::Replay, None).await;
    let rerecorded = TempDir::new().unwrap();
    // The key travels as the upstream's path prefix (a proxy forwards
    // neither its key header nor its key prefix).
    let witness = start(
        rerecorded.path(),
        Mode::Record,
        Some(format!("{}/k/chat-turn", replayer.url())),
    )
    .await;
    let replayed = post(
        &format!("{}/k/chat-turn/v1/chat/completions", witness.url()),
        &[],
        body.as_bytes(),
    )
    .await;
    assert_eq!(replayed.status, 200);
    let replayed_parts = decode(WireProtocol::ChatCompletions, &replayed.body);
    assert_eq!(
        WireProtocol::ChatCompletions.content(&replayed_parts),
        WireProtocol::ChatCompletions.content(&live_parts)
    );
    assert_eq!(text_of(&replayed_parts), text_of(&live_parts));
    assert!(witness.flush().await.is_clean());
    let witnessed = calls(&Store::open(rerecorded.path()).unwrap(), "chat-turn").remove(0);
    assert_replayed_timing(&original, &witnessed);

    // Served once: the same request again is a miss in strict replay.
    let again = post(
        &format!("{}/v1/chat/completions", replayer.url()),
        &[("x-tracedeck-key", "chat-turn")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(again.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_is_a_404_carrying_the_cassette_miss_diff() {
    let dir = TempDir::new().unwrap();
    let sim = OpenAiSimulator::with_timing(fast_timing()).await.unwrap();
    let recorder = start(dir.path(), Mode::Record, Some(origin(&sim))).await;
    let url = format!("{}/k/qa/v1/chat/completions", recorder.url());
    let recorded = chat_body("Capital of France?", false).to_string();
    let answer = post(&url, &[], recorded.as_bytes()).await;
    assert_eq!(answer.status, 200);
    let answer: Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(answer["choices"][0]["message"]["content"].is_string());
    assert!(recorder.flush().await.is_clean());
    drop(sim);

    let replayer = start(dir.path(), Mode::Replay, None).await;
    let asked = chat_body("Capital of Spain?", false).to_string();
    let miss = post(
        &format!("{}/k/qa/v1/chat/completions", replayer.url()),
        &[],
        asked.as_bytes(),
    )
    .await;
    assert_eq!(miss.status, 404);
    let body: Value = serde_json::from_slice(&miss.body).unwrap();
    assert_eq!(body["error"]["type"], "cassette_miss");
    assert_eq!(body["error"]["key"], "qa");

    // The library's own miss for the same request says the same, diff included.
    let store = Store::open(dir.path()).unwrap();
    let request = decode_chat_request(asked.as_bytes()).unwrap().request;
    let library_miss = Player::from_store(&store, "qa")
        .unwrap()
        .take_call(&request, false)
        .unwrap_err();
    assert_eq!(body["error"]["message"], library_miss.to_string());
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(r#""Capital of France?" → "Capital of Spain?""#),
        "{message}"
    );

    // The recorded request itself replays as the recorded JSON answer.
    let served = post(
        &format!("{}/k/qa/v1/chat/completions", replayer.url()),
        &[],
        recorded.as_bytes(),
    )
    .await;
    assert_eq!(served.status, 200);
    let served: Value = serde_json::from_slice(&served.body).unwrap();
    assert_eq!(
        served["choices"][0]["message"]["content"],
        answer["choices"][0]["message"]["content"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_400_and_nothing_is_forwarded_or_recorded() {
    let dir = TempDir::new().unwrap();
    let sim = OpenAiSimulator::with_timing(fast_timing()).await.unwrap();
    let proxy = start(dir.path(), Mode::Record, Some(origin(&sim))).await;
    for bad in [
        &b"{\"model\": \"gpt-4o-mini\", "[..],
        b"[1, 2]",
        b"{\"stream\": \"yes\"}",
    ] {
        let answer = post(&format!("{}/v1/chat/completions", proxy.url()), &[], bad).await;
        assert_eq!(answer.status, 400);
        let body: Value = serde_json::from_slice(&answer.body).expect("a JSON error");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("tracedeck proxy"),
            "{body}"
        );
    }
    // Paths and methods it does not serve are clear errors too.
    let other = post(&format!("{}/v1/embeddings", proxy.url()), &[], b"{}").await;
    assert_eq!(other.status, 404);
    let bad_key = post(
        &format!("{}/v1/chat/completions", proxy.url()),
        &[("x-tracedeck-key", "../escape")],
        chat_body("hi", false).to_string().as_bytes(),
    )
    .await;
    assert_eq!(bad_key.status, 400);

    assert!(proxy.flush().await.is_clean());
    assert!(sim.requests().is_empty(), "nothing went upstream");
    assert!(Store::open(dir.path()).unwrap().keys().unwrap().is_empty());
}

/// A chat stream of `n` text chunks, `gap` apart.
fn slow_chat_stream(n: usize, gap: Duration) -> Reply {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let mut reply = Reply::sse().chunk(chunk(json!({"role": "assistant"}), Value::Null));
    for i in 0..n {
        reply = reply.chunk_after(
            gap,
            chunk(json!({"content": format!("w{i} ")}), Value::Null),
        );
    }
    reply
}

/// Waits (on the real clock, bounded) until `key` has a cassette.
async fn recorded(proxy: &ProxyHandle, store: &Store, key: &str) -> Vec<Span> {
    for _ in 0..200 {
        proxy.flush().await;
        if !store.traces(key).unwrap().is_empty() {
            return calls(store, key);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing was recorded under `{key}` in 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_stream_leaves_a_cancelled_call() {
    let dir = TempDir::new().unwrap();
    let upstream = SseServer::serve(slow_chat_stream(60, Duration::from_millis(50)).chunk(
        format!(
            "data: {}\n\ndata: [DONE]\n\n",
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        ),
    ))
    .await
    .unwrap();
    let proxy = start(dir.path(), Mode::Record, Some(upstream.url())).await;
    let response = reqwest::Client::new()
        .post(format!("{}/k/left/v1/chat/completions", proxy.url()))
        .header("content-type", "application/json")
        .body(chat_body("hi", true).to_string())
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("w1 ") {
        seen.extend_from_slice(&body.next().await.unwrap().unwrap());
    }
    drop(body);

    let store = Store::open(dir.path()).unwrap();
    let call = recorded(&proxy, &store, "left").await.remove(0);
    assert_eq!(call.status, SpanStatus::Cancelled);
    let text = text_of(
        &call
            .parts
            .iter()
            .map(|p| p.part.clone())
            .collect::<Vec<_>>(),
    );
    assert!(
        text.starts_with("w0 w1 "),
        "the parts that arrived are kept: {text}"
    );
    assert!(!text.contains("w59"), "it ended early: {text}");
    assert!(proxy.flush().await.is_clean());
    assert!(store.verify().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_dies_mid_stream_breaks_the_client_and_records_an_error() {
    let dir = TempDir::new().unwrap();
    let upstream =
        SseServer::serve(slow_chat_stream(3, Duration::from_millis(5)).then_break_connection())
            .await
            .unwrap();
    let proxy = start(dir.path(), Mode::Record, Some(upstream.url())).await;
    let answer = post(
        &format!("{}/k/broken/v1/chat/completions", proxy.url()),
        &[],
        chat_body("hi", true).to_string().as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(answer.broken, "the client sees the break");
    let got = text_of(&decode_partial(&answer.body));
    // The scripted server may cut its last chunk with the connection: only
    // what came before is certain.
    assert!(got.starts_with("w0 w1 "), "{got}");

    let store = Store::open(dir.path()).unwrap();
    let call = recorded(&proxy, &store, "broken").await.remove(0);
    assert_eq!(call.status, SpanStatus::Error);
    assert!(
        matches!(call.error, Some(tracedeck::ModelError::Transport { .. })),
        "{:?}",
        call.error
    );
    let text = text_of(
        &call
            .parts
            .iter()
            .map(|p| p.part.clone())
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        text, got,
        "the parts that arrived are kept, as the client got them"
    );
    assert!(store.verify().is_clean());

    // Replayed, the client's body breaks at the same place.
    let replayer = start(dir.path(), Mode::Replay, None).await;
    let replayed = post(
        &format!("{}/k/broken/v1/chat/completions", replayer.url()),
        &[],
        chat_body("hi", true).to_string().as_bytes(),
    )
    .await;
    assert_eq!(replayed.status, 200);
    assert!(replayed.broken);
    assert_eq!(text_of(&decode_partial(&replayed.body)), got);
}

/// The parts of a chat stream body that may end anywhere.
fn decode_partial(body: &[u8]) -> Vec<StreamPart> {
    BodyDecoder::new(WireProtocol::ChatCompletions.decoder("test"))
        .push(body)
        .expect("well-formed events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_clients_make_sixty_four_cassettes() {
    let dir = TempDir::new().unwrap();
    let sim = OpenAiSimulator::with_timing(fast_timing()).await.unwrap();
    let proxy = start(dir.path(), Mode::Auto, Some(origin(&sim))).await;
    let url = format!("{}/k/many/v1/chat/completions", proxy.url());
    let answers = futures::future::join_all((0..64).map(|i| {
        let url = url.clone();
        async move {
            let body = chat_body(&format!("Question number {i} about streaming"), true);
            post(&url, &[], body.to_string().as_bytes()).await
        }
    }))
    .await;
    for answer in &answers {
        assert_eq!(answer.status, 200);
        assert!(!answer.broken);
    }
    let report = proxy.flush().await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.delivered, 64);
    let store = Store::open(dir.path()).unwrap();
    let traces = store.traces("many").unwrap();
    assert!(traces.errors.is_empty());
    assert_eq!(traces.traces.len(), 64);
    let verify = store.verify();
    assert!(verify.is_clean(), "{verify:?}");
    assert_eq!(verify.checked(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_and_messages_record_and_replay_too() {
    let parts = [
        RecordedPart {
            offset_us: 10_000,
            part: StreamPart::text("Bon"),
        },
        RecordedPart {
            offset_us: 30_000,
            part: StreamPart::text("jour"),
        },
        RecordedPart {
            offset_us: 40_000,
            part: StreamPart::finish(FinishReason::stop()),
        },
    ];
    for protocol in [WireProtocol::Responses, WireProtocol::Messages] {
        let dir = TempDir::new().unwrap();
        let wire = protocol.encode_stream(&parts, None).body();
        let upstream = SseServer::serve(Reply::sse_events(&wire)).await.unwrap();
        let proxy = start(dir.path(), Mode::Auto, Some(upstream.url())).await;
        let body = json!({"model": "m", "stream": true, "max_tokens": 16,
                          "input": "Say hello", "messages": [{"role": "user", "content": "Say hello"}]})
            .to_string();
        let live = post(
            &format!("{}{}", proxy.url(), protocol.path()),
            &[("x-api-key", SECRET)],
            body.as_bytes(),
        )
        .await;
        assert_eq!(live.status, 200, "{protocol:?}");
        assert_eq!(text_of(&decode(protocol, &live.body)), "Bonjour");
        assert!(proxy.flush().await.is_clean());
        assert_eq!(upstream.requests()[0].header("x-api-key"), Some(SECRET));
        drop(upstream);
        assert_nowhere(dir.path(), SECRET);
        let store = Store::open(dir.path()).unwrap();
        let call = calls(&store, "proxy").remove(0);
        assert_eq!(
            call.model.as_ref().unwrap().provider,
            if protocol == WireProtocol::Messages {
                "anthropic"
            } else {
                "openai"
            }
        );

        let replayer = start(dir.path(), Mode::Replay, None).await;
        let replayed = post(
            &format!("{}{}", replayer.url(), protocol.path()),
            &[],
            body.as_bytes(),
        )
        .await;
        assert_eq!(replayed.status, 200, "{protocol:?}");
        assert_eq!(
            protocol.content(&decode(protocol, &replayed.body)),
            protocol.content(&decode(protocol, &live.body))
        );
    }
}

#[test]
fn speed_accepts_instant_and_factors_and_rejects_garbage() {
    // The library type the proxy paces with.
    assert!(Speed::scaled(0.0).is_ok());
    assert!(Speed::scaled(-1.0).is_err());
    let bin = env!("CARGO_BIN_EXE_tracedeck");
    let out = Command::new(bin)
        .args([
            "proxy",
            "--mode",
            "replay",
            "--speed",
            "fast",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--speed `fast`"));
    let out = Command::new(bin)
        .args(["proxy", "--mode", "record", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--upstream"));
}

/// The real binary, started in the background; killed when dropped.
struct Binary {
    child: std::process::Child,
    url: String,
}

impl Binary {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracedeck"))
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in `{line}`"))
            .trim_end_matches(',')
            .to_owned();
        Self { child, url }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl(url: &str, body: &str) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sS", "-N", "--fail-with-body", url])
        .args(["-H", "content-type: application/json"])
        .args(["-H", &format!("authorization: Bearer {SECRET}")])
        .args(["-d", body])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_records_through_the_proxy_and_replays_through_the_binary() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("NOTE: curl is not installed; skipping the curl test");
        return;
    }
    let dir = TempDir::new().unwrap();
    let sim = OpenAiSimulator::with_timing(fast_timing()).await.unwrap();
    let proxy = start(dir.path(), Mode::Record, Some(origin(&sim))).await;
    let body = chat_body("What makes a good test?", true).to_string();
    let url = format!("{}/k/curl/v1/chat/completions", proxy.url());
    let live = tokio::task::spawn_blocking({
        let body = body.clone();
        move || curl(&url, &body)
    })
    .await
    .unwrap();
    let live_text = text_of(&decode(WireProtocol::ChatCompletions, &live));
    assert!(!live_text.is_empty());
    assert!(proxy.flush().await.is_clean());
    drop(sim);
    drop(proxy);
    assert_nowhere(dir.path(), SECRET);

    let dir_arg = dir.path().to_str().unwrap().to_owned();
    let binary = Binary::start(&[
        "--dir", &dir_arg, "proxy", "--mode", "replay", "--speed", "instant",
    ]);
    let url = format!("{}/k/curl/v1/chat/completions", binary.url);
    let replayed = tokio::task::spawn_blocking(move || curl(&url, &body))
        .await
        .unwrap();
    assert_eq!(
        text_of(&decode(WireProtocol::ChatCompletions, &replayed)),
        live_text
    );
}

const PYTHON_CLIENT: &str = r#"
import json, sys
from openai import OpenAI
base_url, key = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key="sk-test-proxy-secret-0123456789")
stream = client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "Why does streaming matter?"}],
    stream=True,
    extra_headers={"x-tracedeck-key": key},
)
text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
print(json.dumps({"text": text}))
"#;

fn run_python(python: &str, base_url: &str, key: &str) -> String {
    let out = Command::new(python)
        .args(["-c", PYTHON_CLIENT, base_url, key])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    line["text"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pythons_openai_package_records_then_replays() {
    let Ok(python) = std::env::var("TRACEDECK_TEST_PYTHON") else {
        eprintln!(
            "\n\n*** NOTE: TRACEDECK_TEST_PYTHON is not set: SKIPPING the Python `openai` client test. \
             Set it to a python with `openai` installed (.ci/run does). ***\n"
        );
        return;
    };
    let recorded = TempDir::new().unwrap();
    let sim = OpenAiSimulator::with_timing(fast_timing()).await.unwrap();
    let proxy = start(recorded.path(), Mode::Record, Some(origin(&sim))).await;
    let base = format!("{}/v1", proxy.url());
    let live = tokio::task::spawn_blocking({
        let python = python.clone();
        move || run_python(&python, &base, "python")
    })
    .await
    .unwrap();
    assert!(live.split_whitespace().count() >= 25, "{live}");
    assert!(proxy.flush().await.is_clean());
    drop(sim);
    assert_nowhere(recorded.path(), SECRET);
    let store = Store::open(recorded.path()).unwrap();
    let original = calls(&store, "python").remove(0);

    let replayer = start(recorded.path(), Mode::Replay, None).await;
    let rerecorded = TempDir::new().unwrap();
    let witness = start(
        rerecorded.path(),
        Mode::Record,
        Some(format!("{}/k/python", replayer.url())),
    )
    .await;
    let base = format!("{}/v1", witness.url());
    let replayed = tokio::task::spawn_blocking(move || run_python(&python, &base, "python"))
        .await
        .unwrap();
    assert_eq!(replayed, live);
    assert!(witness.flush().await.is_clean());
    let witnessed = calls(&Store::open(rerecorded.path()).unwrap(), "python").remove(0);
    assert_replayed_timing(&original, &witnessed);
}
