//! The format documented in `docs/cassette-format.md` is the format
//! written: its example is a real recording, byte for byte, and a reader
//! that follows only the document can check and read a cassette.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracedeck::cassette::Store;
use tracedeck::model::FinishReason;
use tracedeck::testing::run_paused;
use tracedeck::{Model, ModelRequest, Recorder, Script, ScriptedModel, StreamPart, with_span};

use crate::common::TempStore;

const DOC: &str = include_str!("../../docs/cassette-format.md");

/// Records the session the document's example shows.
fn record_example(store: &Store) {
    let script = Script::new()
        .open_after(Duration::from_millis(800))
        .part(StreamPart::StreamStart)
        .part_after(Duration::from_millis(400), StreamPart::text("Paris"))
        .part(StreamPart::finish(FinishReason::stop()));
    let model = Recorder::new(ScriptedModel::new(script), store.sink());
    run_paused(async {
        with_span("capital", "France", async {
            let req = ModelRequest::new("gpt-4o-mini").user("Capital of France?");
            let mut parts = model.stream(req).await.unwrap();
            while parts.next().await.is_some() {}
            "Paris"
        })
        .await;
        assert!(model.flush().await.is_clean());
    });
}

#[test]
fn the_documented_example_is_a_real_recording() {
    let example = DOC
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the document has a json example");
    let named = DOC
        .split("(`capital/")
        .nth(1)
        .and_then(|rest| rest.split("`)").next())
        .expect("the document names the example's file");

    let store = TempStore::new();
    record_example(&store);
    let stored = &store.traces("capital").unwrap().traces[0];
    assert_eq!(std::fs::read_to_string(&stored.path).unwrap(), example);
    assert_eq!(format!("{}.json", stored.hash), named);
}

#[test]
fn a_reader_following_the_document_can_check_and_read_a_cassette() {
    let store = TempStore::new();
    record_example(&store);

    // Find the file: <store>/<key>/<sha256>.json.
    let folder = store.path().join("capital");
    let entry = std::fs::read_dir(&folder).unwrap().next().unwrap().unwrap();
    let name = entry.file_name().into_string().unwrap();
    let bytes = std::fs::read(entry.path()).unwrap();

    // The name is the lowercase hex sha256 of the bytes.
    let hash: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(name, format!("{hash}.json"));

    // Format, version, and spans sorted by id with earlier parents.
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["format"], "tracedeck/cassette");
    assert_eq!(doc["version"], 1);
    let spans = doc["trace"]["spans"].as_array().unwrap();
    assert_eq!(spans[0]["id"], 0);
    assert_eq!(spans[0]["key"], "capital");
    assert!(spans[0].get("parent").is_none());
    assert_eq!(spans[1]["parent"], 0);
    assert_eq!(spans[1]["kind"], "llm");
    assert_eq!(spans[1]["timing"]["ttft_us"], 1_200_000);
    let first_content = spans[1]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["part"]["type"] == "text_delta")
        .unwrap();
    assert_eq!(first_content["offset_us"], 1_200_000);

    // Canonical: sorted keys, two-space indent, trailing newline.
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.ends_with("}\n") && !text.ends_with("}\n\n"));
    assert_eq!(
        text,
        format!("{}\n", serde_json::to_string_pretty(&doc).unwrap()),
        "the file is sorted, so re-printing it (sorted or in file order) gives it back"
    );
}
