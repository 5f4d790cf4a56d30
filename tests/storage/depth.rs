//! Issue 11, item 3: deep JSON is never silently lost and never kills the
//! process. A span value nested deeper than `MAX_JSON_DEPTH` is refused at
//! write time with a typed error that `flush()` counts; anything within the
//! limit loads back. Every test runs on the default test thread (2 MiB of
//! stack), so none of these depths may recurse as deep as it nests.

use crate::common::{self, TempStore};

use std::sync::Arc;

use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::{Value, json};
use tracedeck::cassette::{CassetteError, MAX_JSON_DEPTH, Store, drop_json, json_depth};
use tracedeck::{Model, ModelRequest, Recorder, Script, ScriptedModel, Sink, with_span};

const DEPTHS: [usize; 5] = [50, 124, 130, 1_500, 10_000];

/// `[[[ ... 0 ... ]]]`, `depth` arrays deep, built without recursion.
fn deep_value(depth: usize) -> Value {
    let mut value = json!(0);
    for _ in 0..depth {
        value = Value::Array(vec![value]);
    }
    value
}

/// A user type that serializes as `depth` nested arrays, recursing once per
/// level as derived `Serialize` impls of recursive types do.
struct Nested(usize);

impl Serialize for Nested {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 == 0 {
            return serializer.serialize_u8(0);
        }
        let mut seq = serializer.serialize_seq(Some(1))?;
        seq.serialize_element(&Nested(self.0 - 1))?;
        seq.end()
    }
}

#[test]
fn a_value_exactly_at_the_limit_round_trips_and_one_level_more_is_refused() {
    assert_eq!(json_depth(&deep_value(10_000)), 10_000);
    let store = TempStore::new();
    let mut trace = common::simple_trace("edge", deep_value(MAX_JSON_DEPTH));
    trace.spans[0].output = Some(deep_value(MAX_JSON_DEPTH).into());
    let stored = store.write(&trace).unwrap();
    // Any serde_json reader, with its default 128-level limit, reads it.
    let text = std::fs::read(&stored.path).unwrap();
    serde_json::from_slice::<Value>(&text).unwrap();
    assert_eq!(store.load(&stored.hash).unwrap().trace, trace);
    trace.spans[0].output = Some(deep_value(MAX_JSON_DEPTH + 1).into());
    assert!(matches!(
        store.write(&trace),
        Err(CassetteError::TooDeep { field: "output", depth, .. }) if depth == MAX_JSON_DEPTH + 1
    ));
}

#[test]
fn store_write_round_trips_within_the_limit_and_refuses_deeper_with_a_typed_error() {
    let store = TempStore::new();
    for depth in DEPTHS {
        let mut trace = common::simple_trace("deep", deep_value(depth));
        match store.write(&trace) {
            Ok(stored) => {
                assert!(depth <= MAX_JSON_DEPTH, "depth {depth} was written");
                let loaded = store.load(&stored.hash).unwrap();
                assert_eq!(loaded.trace, trace, "depth {depth}");
            }
            Err(CassetteError::TooDeep {
                key,
                field,
                depth: found,
                at_least,
                limit,
                ..
            }) => {
                assert!(depth > MAX_JSON_DEPTH, "depth {depth} was refused");
                assert_eq!((key.as_str(), field), ("deep", "input"));
                assert_eq!((found, at_least, limit), (depth, false, MAX_JSON_DEPTH));
            }
            Err(other) => panic!("depth {depth}: {other}"),
        }
        drop_json(std::mem::take(&mut trace.spans[0].input).into_value());
    }
    let found = store.traces("deep").unwrap();
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    assert_eq!(found.traces.len(), 1, "only the 50-deep trace is stored");
    assert!(store.verify().is_clean());
}

/// Records a `with_span` whose input is `Nested(depth)` and which makes one
/// model call, into a store sink; returns the flush report and the store.
fn record_deep_turn(depth: usize) -> (tracedeck::sink::FlushReport, Store, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let model = Recorder::new(ScriptedModel::new(Script::text("ok")), store.sink());
    let report = tracedeck::testing::run_paused(async {
        let out = with_span("deep", Nested(depth), async {
            model.generate(ModelRequest::new("m").user("hi")).await
        })
        .await;
        assert_eq!(out.unwrap().text, "ok", "the call itself is never failed");
        model.flush().await
    });
    (report, store, tmp)
}

#[test]
fn with_span_deep_inputs_round_trip_or_are_counted_as_lost_through_a_store_sink() {
    for depth in DEPTHS {
        let (report, store, _tmp) = record_deep_turn(depth);
        let found = store.traces("deep").unwrap();
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        if depth <= MAX_JSON_DEPTH {
            assert!(report.is_clean(), "depth {depth}: {report:?}");
            assert_eq!(found.traces.len(), 1);
            let root = found.traces[0].trace.root();
            assert_eq!(root.input, deep_value(depth));
        } else {
            assert_eq!(report.lost, 1, "depth {depth}: {report:?}");
            let message = report.errors[0].to_string();
            assert!(
                message.contains("more than 100") && message.contains("input"),
                "{message}"
            );
            assert!(found.traces.is_empty(), "depth {depth}: nothing written");
        }
        assert!(store.verify().is_clean(), "depth {depth}");
    }
}

#[test]
fn a_deep_task_output_is_counted_as_lost_not_fatal() {
    let store = TempStore::new();
    let model = Recorder::new(ScriptedModel::new(Script::text("ok")), store.sink());
    let report = tracedeck::testing::run_paused(async {
        with_span("deep-out", "in", async {
            model
                .generate(ModelRequest::new("m").user("hi"))
                .await
                .unwrap();
            Nested(10_000)
        })
        .await;
        model.flush().await
    });
    assert_eq!(report.lost, 1, "{report:?}");
    assert!(report.errors[0].to_string().contains("output"));
}

#[test]
fn a_deep_trace_sent_straight_to_a_store_sink_is_refused_and_counted() {
    let store = TempStore::new();
    let sink = store.sink();
    for depth in DEPTHS {
        sink.accept(Arc::new(common::simple_trace("raw", deep_value(depth))))
            .unwrap();
    }
    let lost = tracedeck::testing::run_paused(async { sink.flush().await });
    assert_eq!(lost.len(), 4, "{lost:?}");
    assert_eq!(store.traces("raw").unwrap().traces.len(), 1);
}

#[test]
fn a_deep_model_request_is_counted_as_lost_not_fatal() {
    for depth in DEPTHS {
        let store = TempStore::new();
        let model = Recorder::new(ScriptedModel::new(Script::text("ok")), store.sink());
        let req = ModelRequest::new("m")
            .user("hi")
            .extra("deep", deep_value(depth));
        let report = tracedeck::testing::run_paused(async {
            with_span("turn", "in", async {
                let answer = model.generate(req).await;
                assert_eq!(
                    answer.unwrap().text,
                    "ok",
                    "the call itself is never failed"
                );
            })
            .await;
            model.flush().await
        });
        let found = store.traces("turn").unwrap();
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        // The request nests `extra` two levels below its top.
        if depth + 2 <= MAX_JSON_DEPTH {
            assert!(report.is_clean(), "depth {depth}: {report:?}");
            assert_eq!(found.traces.len(), 1);
        } else {
            assert_eq!(report.lost, 1, "depth {depth}: {report:?}");
            assert!(found.traces.is_empty());
        }
    }
}
