//! Issue 3, point 7 (contract 9): a redacted path's value appears in no
//! file, and the playback hash of a redacted request is stable across runs.

use crate::common::{self, TempStore};

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tracedeck::cassette::{Redaction, SecretKind, Store};
use tracedeck::json::{canonical_json, sha256_hex};
use tracedeck::span::SpanKind;
use tracedeck::testing::run_paused;
use tracedeck::{Model, ModelRequest, Recorder, Script, ScriptedModel, StreamPart, with_span};

const API_KEY: &str = "sk-proj-Zx81Qw7Lm2Np4Rt6Vb9Kc3Hd";
const EMAIL: &str = "ada.lovelace@example.com";
const ANSWER: &str = "Your account number is 4242-9876";

/// The redaction under test: the request's credential-like extra fields,
/// the user's email in the root task's input, the answer text (in the
/// response and in every text delta) and the task's reply.
fn redaction() -> Redaction {
    Redaction::new()
        .path("/extra/api_key")
        .path("/extra/user_email")
        .path("/user")
        .path("/text")
        .path("/reply")
}

/// A model that streams `ANSWER` in three pieces.
fn model() -> ScriptedModel {
    ScriptedModel::new(
        Script::new()
            .open_after(Duration::from_millis(300))
            .part(StreamPart::text("Your account "))
            .part_after(Duration::from_millis(10), StreamPart::text("number is "))
            .part_after(Duration::from_millis(10), StreamPart::text("4242-9876"))
            .part(StreamPart::finish(tracedeck::model::FinishReason::stop())),
    )
}

fn request(api_key: &str, email: &str) -> ModelRequest {
    ModelRequest::new("gpt-4o-mini")
        .user("What is my account number?")
        .extra("api_key", json!(api_key))
        .extra("user_email", json!(email))
}

/// Records one session with the given secret values into `store`.
fn record(store: &Store, api_key: &str, email: &str) {
    let recorder = Recorder::new(model(), store.sink());
    run_paused(async {
        with_span(
            "support",
            json!({"user": email, "question": "account number"}),
            async {
                let mut parts = recorder.stream(request(api_key, email)).await.unwrap();
                while parts.next().await.is_some() {}
                let reply = recorder
                    .generate(request(api_key, email))
                    .await
                    .unwrap()
                    .text;
                json!({ "reply": reply })
            },
        )
        .await;
        let report = recorder.flush().await;
        assert!(report.is_clean(), "{report:?}");
    });
}

fn all_bytes(dir: &Path) -> Vec<u8> {
    common::files_under(dir)
        .into_iter()
        .flat_map(|f| fs::read(dir.join(f)).unwrap())
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_redacted_value_appears_in_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap().with_redaction(redaction());
    record(&store, API_KEY, EMAIL);

    let bytes = all_bytes(tmp.path());
    assert!(!bytes.is_empty());
    for secret in [API_KEY, EMAIL, ANSWER, "4242-9876", "Your account "] {
        assert!(
            !contains(&bytes, secret),
            "{secret:?} leaked into a cassette"
        );
    }
    assert!(contains(&bytes, "[REDACTED]"));
    assert!(store.verify().is_clean(), "{}", store.verify());

    // The cassette is still a usable recording: everything else is intact.
    let trace = store.traces("support").unwrap().traces.remove(0).trace;
    assert_eq!(
        trace.root().input,
        json!({"user": "[REDACTED]", "question": "account number"})
    );
    let stream = trace.llm_spans().find(|s| s.streamed).unwrap();
    assert_eq!(stream.parts.len(), 4);
    assert_eq!(stream.parts[0].part, StreamPart::text("[REDACTED]"));
    assert_eq!(stream.parts[1].offset_us, 310_000);
    assert_eq!(stream.timing.ttft_us, Some(300_000));
    let request = stream
        .request()
        .expect("the redacted input is still a request");
    assert_eq!(request.extra["api_key"], "[REDACTED]");
    assert_eq!(
        request.messages[0].text_content(),
        "What is my account number?"
    );
    assert_eq!(stream.response().unwrap().text, "[REDACTED]");
}

/// A stream that reasons, calls a tool with a secret argument, then answers.
fn agent_model() -> ScriptedModel {
    ScriptedModel::new(
        Script::new()
            .open_after(Duration::from_millis(200))
            .part(StreamPart::StreamStart)
            .part_after(
                Duration::from_millis(100),
                StreamPart::reasoning("look up "),
            )
            .part(StreamPart::reasoning("4242-9876"))
            .part(StreamPart::ToolCallStart {
                id: "call_1".into(),
                name: "lookup".into(),
            })
            .part(StreamPart::ToolCallDelta {
                id: "call_1".into(),
                arguments: "{\"account\": \"4242".into(),
            })
            .part(StreamPart::ToolCallDelta {
                id: "call_1".into(),
                arguments: "-9876\"}".into(),
            })
            .part_after(Duration::from_millis(50), StreamPart::text("Your account "))
            .part(StreamPart::text("number is 4242-9876"))
            .part(StreamPart::finish(tracedeck::model::FinishReason::stop())),
    )
}

/// Streams one call and returns how many parts it saw (nothing secret).
async fn count_parts(question: String, model: Arc<dyn Model>) -> usize {
    let mut parts = model
        .stream(ModelRequest::new("m").user(question))
        .await
        .unwrap();
    let mut n = 0;
    while let Some(part) = parts.next().await {
        part.unwrap();
        n += 1;
    }
    n
}

/// Paths on the response (its text, reasoning and tool arguments) hide that
/// content in the streamed parts too, and the redacted recording replays
/// unchanged: its parts add up to its redacted output, with the same TTFT.
#[test]
fn a_redacted_response_is_hidden_in_its_parts_and_replays_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap().with_redaction(
        Redaction::new()
            .path("/text")
            .path("/reasoning")
            .path("/tool_calls/*/arguments"),
    );
    let recorder = Arc::new(Recorder::new(agent_model(), store.sink()));
    run_paused(async {
        let question = "Which account?".to_owned();
        let model: Arc<dyn Model> = recorder.clone();
        with_span("agent", &question, count_parts(question.clone(), model)).await;
        assert!(recorder.flush().await.is_clean());
    });

    let bytes = all_bytes(tmp.path());
    for secret in ["4242", "9876", "look up", "Your account"] {
        assert!(
            !contains(&bytes, secret),
            "{secret:?} leaked into a cassette"
        );
    }
    let trace = store.traces("agent").unwrap().traces.remove(0).trace;
    let call = trace.llm_spans().next().unwrap();
    let response = call.response().unwrap();
    assert_eq!(response.text, "[REDACTED]");
    assert_eq!(response.reasoning, "[REDACTED]");
    assert_eq!(response.tool_calls[0].name, "lookup");
    assert_eq!(response.tool_calls[0].arguments, json!("[REDACTED]"));
    assert_eq!(call.parts.len(), 9);
    assert_eq!(call.timing.ttft_us, Some(300_000));

    let report = run_paused(tracedeck::replay(&store, "agent", count_parts)).unwrap();
    report.assert_unchanged();
    let replayed = report.traces[0].replayed.as_ref().unwrap();
    let again = replayed.llm_spans().next().unwrap();
    assert_eq!(again.response().unwrap(), response);
    assert_eq!(again.timing, call.timing);
}

#[test]
fn verify_flags_what_redaction_would_have_hidden() {
    let store = TempStore::new();
    record(&store, API_KEY, EMAIL);
    let report = store.verify();
    assert!(!report.is_clean());
    let found: Vec<_> = report.secrets().collect();
    // The key is in the input of both calls.
    assert_eq!(found.len(), 2, "{report}");
    for (path, secret) in found {
        assert_eq!(secret.kind, SecretKind::OpenAiKey);
        assert!(
            secret.location.ends_with("/input/extra/api_key"),
            "{}",
            secret.location
        );
        assert!(!secret.preview.contains(API_KEY));
        assert!(report.to_string().contains(&path.display().to_string()));
    }
}

/// The hash a player looks a request up by: the canonical JSON of the
/// request after redaction.
fn playback_hash(redaction: &Redaction, request: &ModelRequest) -> String {
    let mut value = serde_json::to_value(request).unwrap();
    redaction.apply(&mut value);
    sha256_hex(&canonical_json(&value).unwrap())
}

#[test]
fn the_playback_hash_of_a_redacted_request_is_stable_across_runs() {
    let redaction = redaction();
    // Requests differing only in redacted values share one hash...
    let a = playback_hash(&redaction, &request(API_KEY, EMAIL));
    let b = playback_hash(
        &redaction,
        &request("sk-other-0000000000000000000000", "x@y.z"),
    );
    assert_eq!(a, b);
    // ... and any other difference changes it.
    let other = request(API_KEY, EMAIL).max_tokens(5);
    assert_ne!(playback_hash(&redaction, &other), a);

    // Two runs with different secrets record byte-identical cassettes, whose
    // stored requests hash to the live request's playback hash.
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    record(
        &Store::open(&one).unwrap().with_redaction(redaction.clone()),
        API_KEY,
        EMAIL,
    );
    record(
        &Store::open(&two).unwrap().with_redaction(redaction.clone()),
        "sk-proj-Different0123456789abcdef",
        "grace@example.org",
    );
    assert_eq!(all_bytes(&one), all_bytes(&two));
    assert_eq!(common::files_under(&one), common::files_under(&two));

    let stored = Store::open(&one)
        .unwrap()
        .traces("support")
        .unwrap()
        .traces
        .remove(0)
        .trace;
    for span in stored.spans.iter().filter(|s| s.kind == SpanKind::Llm) {
        let mut input: Value = span.input.clone().into();
        // Redacting an already-redacted request changes nothing.
        redaction.apply(&mut input);
        assert_eq!(sha256_hex(&canonical_json(&input).unwrap()), a);
    }
}

#[test]
fn the_playback_hash_is_the_documented_canonical_text() {
    // Pinned on purpose: if this changes, every recorded cassette misses on
    // replay. The text and hash were checked independently with Python's
    // `json.dumps(v, sort_keys=True, indent=2, ensure_ascii=False) + "\n"`
    // and `hashlib.sha256`.
    let request = ModelRequest::new("gpt-4o-mini")
        .system("Be brief.")
        .user("Capital of France?")
        .max_tokens(16)
        .extra("user_email", json!(EMAIL));
    let mut value = serde_json::to_value(&request).unwrap();
    Redaction::new().path("/extra/user_email").apply(&mut value);
    let text = String::from_utf8(canonical_json(&value).unwrap()).unwrap();
    assert_eq!(
        text,
        r#"{
  "extra": {
    "user_email": "[REDACTED]"
  },
  "messages": [
    {
      "content": [
        {
          "text": "Capital of France?",
          "type": "text"
        }
      ],
      "role": "user"
    }
  ],
  "model": "gpt-4o-mini",
  "settings": {
    "max_tokens": 16
  },
  "system": "Be brief."
}
"#
    );
    assert_eq!(
        sha256_hex(text.as_bytes()),
        "a5de2259446175686d0c7225ca3c3406ce4a82fcca3749bee11c664c3e638d9d"
    );
}

#[test]
fn wildcards_and_a_custom_placeholder() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap().with_redaction(
        Redaction::new()
            .path("/messages/*/content/*/text")
            .placeholder("<pii>"),
    );
    assert_eq!(store.redaction().placeholder_text(), "<pii>");
    let recorder = Recorder::new(model(), store.sink());
    run_paused(async {
        with_span("wild", "in", async {
            let req = ModelRequest::new("m")
                .user(EMAIL)
                .message(tracedeck::model::Message::assistant("ok"))
                .user(API_KEY);
            recorder.generate(req).await.unwrap().text
        })
        .await;
        assert!(recorder.flush().await.is_clean());
    });
    let bytes = all_bytes(tmp.path());
    assert!(!contains(&bytes, EMAIL) && !contains(&bytes, API_KEY));
    let trace = store.traces("wild").unwrap().traces.remove(0).trace;
    let texts: Vec<String> = trace.spans[1]
        .request()
        .unwrap()
        .messages
        .iter()
        .map(|m| m.text_content())
        .collect();
    assert_eq!(texts, ["<pii>", "<pii>", "<pii>"]);
}
