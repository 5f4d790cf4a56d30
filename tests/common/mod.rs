//! Helpers shared by the cassette tests: arbitrary traces, simple traces,
//! recorded sessions and file-tree inspection.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};
use tracedeck::cassette::validate_key;
use tracedeck::model::{FinishReason, ModelInfo};
use tracedeck::span::{RecordedPart, SpanId, SpanKind, SpanStatus, Timing};
use tracedeck::testing::strategies;
use tracedeck::{
    Model, ModelError, ModelRequest, Recorder, Script, ScriptedModel, Sink, Span, StreamPart,
    Trace, with_span,
};

/// Any JSON value, nested up to a few levels: every scalar kind, finite
/// floats of every magnitude, and strings of any characters.
pub fn json_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |x| Number::from_f64(x).map(Value::Number)),
        ".{0,12}".prop_map(Value::String),
        "[\\x00-\\x1f\"\\\\/]{0,4}".prop_map(Value::String),
    ];
    scalar.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((".{0,8}", inner), 0..5)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A valid cassette key, sometimes nested.
pub fn key() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-][A-Za-z0-9._-]{0,10}(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,6}){0,2}"
        .prop_filter("a valid key", |k| validate_key(k).is_ok())
}

fn model_error() -> impl Strategy<Value = ModelError> {
    prop_oneof![
        ".{0,10}".prop_map(ModelError::other),
        (100u16..600, ".{0,10}", prop::option::of(any::<u64>())).prop_map(
            |(status, message, retry_after_ms)| ModelError::Http {
                provider: "openai".into(),
                status,
                message,
                retry_after_ms,
            }
        ),
        ".{0,10}".prop_map(|message| ModelError::Truncated {
            provider: "anthropic".into(),
            message,
        }),
    ]
}

fn recorded_part() -> impl Strategy<Value = RecordedPart> {
    let part = prop_oneof![
        4 => strategies::stream_part(),
        1 => Just(StreamPart::finish(FinishReason::stop())),
        1 => ".{0,6}".prop_map(|data| StreamPart::RedactedReasoning { data }),
    ];
    (any::<u64>(), part).prop_map(|(offset_us, part)| RecordedPart { offset_us, part })
}

fn timing() -> impl Strategy<Value = Timing> {
    (
        any::<u64>(),
        any::<u64>(),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u64>()),
    )
        .prop_map(
            |(start_us, duration_us, opened_us, first_part_us, ttft_us)| Timing {
                start_us,
                duration_us,
                opened_us,
                first_part_us,
                ttft_us,
            },
        )
}

/// The fields of one span but its id and parent.
fn span_body() -> impl Strategy<Value = Span> {
    (
        ".{0,10}",
        prop_oneof![Just(SpanKind::Task), Just(SpanKind::Llm)],
        prop_oneof![
            Just(SpanStatus::Ok),
            Just(SpanStatus::Error),
            Just(SpanStatus::Cancelled)
        ],
        timing(),
        json_value(),
        prop::option::of(json_value()),
        prop::option::of(("[a-z]{1,8}", ".{0,8}").prop_map(|(p, m)| ModelInfo::new(p, m))),
        any::<bool>(),
        prop::collection::vec(recorded_part(), 0..6),
        prop::option::of(model_error()),
    )
        .prop_map(
            |(key, kind, status, timing, input, output, model, streamed, parts, error)| Span {
                id: SpanId(0),
                parent: None,
                key,
                kind,
                status,
                timing,
                input: input.into(),
                output: output.map(Into::into),
                model,
                streamed,
                parts,
                error,
            },
        )
}

/// Any well-formed trace: a root with a valid key and up to seven more
/// spans, each the child of an earlier one, with arbitrary contents.
pub fn trace() -> impl Strategy<Value = Trace> {
    (
        key(),
        prop::collection::vec((span_body(), any::<prop::sample::Index>()), 1..8),
    )
        .prop_map(|(root_key, bodies)| {
            let spans = bodies
                .into_iter()
                .enumerate()
                .map(|(i, (mut span, parent))| {
                    span.id = SpanId(i as u64);
                    span.parent = (i > 0).then(|| SpanId(parent.index(i) as u64));
                    if i == 0 {
                        span.key = root_key.clone();
                    }
                    span
                })
                .collect();
            Trace { spans }
        })
}

/// A one-span trace keyed `key` whose input is `input`.
pub fn simple_trace(key: &str, input: Value) -> Trace {
    Trace {
        spans: vec![Span {
            id: SpanId(0),
            parent: None,
            key: key.to_owned(),
            kind: SpanKind::Task,
            status: SpanStatus::Ok,
            timing: Timing {
                start_us: 0,
                duration_us: 1_000,
                ..Timing::default()
            },
            input: input.into(),
            output: Some(json!("done").into()),
            model: None,
            streamed: false,
            parts: Vec::new(),
            error: None,
        }],
    }
}

/// The scripted model used by recorded sessions: it answers
/// `"answer to <prompt>"` as a stream that opens after 800 ms and yields
/// two text deltas 400 ms and 20 ms apart.
pub fn echo_model() -> ScriptedModel {
    ScriptedModel::from_fn(|req| {
        let prompt = req
            .messages
            .last()
            .map(|m| m.text_content())
            .unwrap_or_default();
        Script::new()
            .open_after(Duration::from_millis(800))
            .part(StreamPart::StreamStart)
            .part_after(Duration::from_millis(400), StreamPart::text("answer to "))
            .part_after(Duration::from_millis(20), StreamPart::text(prompt))
            .part(StreamPart::finish(FinishReason::stop()))
    })
}

/// Records one `chat-turn` session through `sink`: a streamed call, then a
/// generate call, under a root span whose input is `input`.
pub async fn record_session(sink: impl Sink, key: &str, input: &str) {
    let model = Recorder::new(echo_model(), sink);
    run_session(&model, key, input).await;
    let report = model.flush().await;
    assert!(report.is_clean(), "{report:?}");
}

/// The session itself, through any model.
pub async fn run_session<M: Model>(model: &M, key: &str, input: &str) {
    use futures::StreamExt;
    with_span(key.to_owned(), input, async {
        let mut parts = model
            .stream(ModelRequest::new("m").user(input))
            .await
            .expect("the scripted stream opens");
        while let Some(part) = parts.next().await {
            part.expect("the scripted stream does not fail");
        }
        model
            .generate(ModelRequest::new("m").user(format!("{input}, briefly")))
            .await
            .expect("the scripted call succeeds")
            .text
    })
    .await;
}

/// Every file under `dir`, relative paths sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    tree_under(dir)
        .into_iter()
        .filter(|p| !dir.join(p).is_dir())
        .collect()
}

/// Every file and folder under `dir`, relative paths sorted; leaves out
/// the `.gitattributes` that `Store::open` writes into a folder it creates,
/// and the store's own bookkeeping folder (`.tracedeck`: the usage ledger
/// and the lookup index that writes keep).
pub fn tree_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == ".gitattributes")
                || (d == dir && path.file_name().is_some_and(|n| n == ".tracedeck"))
            {
                continue;
            }
            out.push(path.strip_prefix(dir).unwrap().to_path_buf());
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Asserts every file under `dir` is named `<64 lowercase hex>.json`: no
/// temporary or partial file is left.
pub fn assert_only_cassettes(dir: &Path) {
    for file in files_under(dir) {
        let name = file.file_name().unwrap().to_str().unwrap();
        let stem = name.strip_suffix(".json").unwrap_or("");
        assert!(
            stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()),
            "unexpected file {}",
            file.display()
        );
    }
}

/// A [`Store`](tracedeck::cassette::Store) in a fresh temporary folder, removed
/// when the fixture drops. Derefs to the store; `path()` is the folder.
pub struct TempStore {
    store: tracedeck::cassette::Store,
    dir: tempfile::TempDir,
}

impl TempStore {
    /// Opens a store directly in a new temporary folder.
    pub fn new() -> TempStore {
        let dir = tempfile::tempdir().unwrap();
        let store = tracedeck::cassette::Store::open(dir.path()).unwrap();
        TempStore { store, dir }
    }

    /// The temporary folder the store lives in.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl std::ops::Deref for TempStore {
    type Target = tracedeck::cassette::Store;

    fn deref(&self) -> &Self::Target {
        &self.store
    }
}
