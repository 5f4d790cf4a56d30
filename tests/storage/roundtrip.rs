//! Issue 3, point 1: a trace written and loaded back is equal, and its file
//! is named by the sha256 of its bytes. Also: lookup by hash, listing keys,
//! recorded order.

use crate::common::{self, TempStore};

use std::fs;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use serde_json::json;
use tracedeck::cassette::{CassetteError, FORMAT, Store, VERSION};
use tracedeck::json::{canonical_json, sha256_hex};
use tracedeck::span::SpanId;
use tracedeck::testing::run_paused;
use tracedeck::{Collector, Trace};

proptest! {
    #![proptest_config(ProptestConfig {
        // A failing case is printed; no regression file is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::with_cases(96)
    })]

    #[test]
    fn an_arbitrary_trace_round_trips(trace in common::trace()) {
        let store = TempStore::new();

        let stored = store.write(&trace).unwrap();
        let bytes = fs::read(&stored.path).unwrap();
        prop_assert_eq!(&stored.hash, &sha256_hex(&bytes));
        prop_assert_eq!(
            stored.path.file_name().unwrap().to_str().unwrap(),
            format!("{}.json", sha256_hex(&bytes))
        );
        let mut expected_dir = store.path().to_path_buf();
        expected_dir.extend(trace.key().split('/'));
        prop_assert_eq!(stored.path.parent().unwrap(), expected_dir.as_path());
        prop_assert_eq!(&stored.trace, &trace);

        // Canonical: the bytes are their own canonical form.
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(&canonical_json(&value).unwrap(), &bytes);

        let loaded = store.load(&stored.hash).unwrap();
        prop_assert_eq!(&loaded.trace, &trace);
        prop_assert_eq!(&loaded.path, &stored.path);

        let listed = store.traces(trace.key()).unwrap();
        prop_assert!(listed.errors.is_empty(), "{:?}", listed.errors);
        prop_assert_eq!(listed.traces.len(), 1);
        prop_assert_eq!(&listed.traces[0].trace, &trace);
        prop_assert_eq!(store.keys().unwrap(), vec![trace.key().to_owned()]);

        // Writing it again is the same file, untouched.
        let again = store.write(&trace).unwrap();
        prop_assert_eq!(again.hash, stored.hash);
        prop_assert_eq!(common::files_under(store.path()).len(), 1);
    }
}

#[test]
fn the_file_is_the_documented_envelope() {
    let store = TempStore::new();
    let trace = common::simple_trace("capital", json!("France"));
    let stored = store.write(&trace).unwrap();
    let text = fs::read_to_string(&stored.path).unwrap();
    assert!(
        text.starts_with(
            "{\n  \"format\": \"tracedeck/cassette\",\n  \"trace\": {\n    \"spans\": [\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("  \"version\": 1\n}\n"), "{text}");
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["format"], FORMAT);
    assert_eq!(value["version"], VERSION);
    assert_eq!(value["trace"], serde_json::to_value(&trace).unwrap());
    assert_eq!(
        value.as_object().unwrap().len(),
        3,
        "no recorded_at by default"
    );
}

#[test]
fn a_task_returning_unit_keeps_its_null_output() {
    let store = TempStore::new();
    let mut trace = common::simple_trace("unit", json!(null));
    trace.spans[0].output = Some(serde_json::Value::Null.into());
    let stored = store.write(&trace).unwrap();
    assert_eq!(
        store.load(&stored.hash).unwrap().trace.spans[0].output,
        Some(serde_json::Value::Null.into())
    );
}

#[test]
fn a_recorded_session_round_trips_through_the_sink() {
    let store = TempStore::new();
    let collector = Collector::new();
    run_paused(async {
        common::record_session(collector.clone(), "chat-turn", "hello").await;
        common::record_session(store.sink(), "chat-turn", "hello").await;
    });
    let recorded = collector.traces();
    let found = store.traces("chat-turn").unwrap();
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    assert_eq!(found.traces.len(), 1);
    let stored = &found.traces[0].trace;
    assert_eq!(stored, &recorded[0]);
    // The streamed call kept every part with its exact virtual offset.
    let call = stored.span(SpanId(1)).unwrap();
    let offsets: Vec<u64> = call.parts.iter().map(|p| p.offset_us).collect();
    assert_eq!(offsets, [800_000, 1_200_000, 1_220_000, 1_220_000]);
    assert_eq!(call.timing.ttft_us, Some(1_200_000));
}

#[test]
fn load_finds_a_cassette_by_hash_or_unique_prefix() {
    let store = TempStore::new();
    let stored: Vec<_> = (0..40)
        .map(|i| store.write(&common::simple_trace("a/b", json!(i))).unwrap())
        .collect();
    let first = &stored[0];
    assert_eq!(
        store.load(&first.hash).unwrap(),
        store.load(&first.hash.to_uppercase()).unwrap()
    );
    // The shortest prefix of at least 4 digits that no other hash shares.
    let unique = (4..=64)
        .map(|n| &first.hash[..n])
        .find(|p| stored[1..].iter().all(|s| !s.hash.starts_with(p)))
        .unwrap();
    assert_eq!(store.load(unique).unwrap().trace, first.trace);

    // Find two traces whose hashes share their first 4 digits (the
    // birthday bound makes a few hundred candidates enough), store both, and
    // their shared prefix is ambiguous.
    let mut seen = std::collections::HashMap::new();
    let (a, b) = (0..20_000)
        .find_map(|i| {
            let trace = common::simple_trace("c", json!(i));
            let (hash, _) = store.encode(&trace).unwrap();
            seen.insert(hash[..4].to_owned(), trace.clone())
                .map(|earlier| (earlier, trace))
        })
        .unwrap();
    let (a, b) = (store.write(&a).unwrap(), store.write(&b).unwrap());
    assert_eq!(a.hash[..4], b.hash[..4]);
    match store.load(&a.hash[..4]) {
        Err(CassetteError::AmbiguousHash { matches, .. }) => {
            assert_eq!(matches.len(), 2);
            assert!(matches.contains(&a.path) && matches.contains(&b.path));
        }
        other => panic!("expected AmbiguousHash, got {other:?}"),
    }
    assert_eq!(store.load(&a.hash).unwrap().trace, a.trace);

    assert!(matches!(
        store.load(&"0".repeat(64)),
        Err(CassetteError::NotFound { .. })
    ));
    for bad in ["abc", "xyz0", "../x", "", &"a".repeat(65)] {
        assert!(
            matches!(store.load(bad), Err(CassetteError::InvalidHash { .. })),
            "{bad}"
        );
    }
}

#[test]
fn keys_lists_every_key_folder_sorted() {
    let store = TempStore::new();
    for key in ["b", "a/x", "a", "a/x/deep", "Z", "a-b"] {
        store.write(&common::simple_trace(key, json!(key))).unwrap();
    }
    // A folder without cassettes and a stray file are not keys.
    fs::create_dir_all(store.path().join("empty/inner")).unwrap();
    fs::write(store.path().join("README.md"), "notes").unwrap();
    assert_eq!(
        store.keys().unwrap(),
        ["Z", "a", "a-b", "a/x", "a/x/deep", "b"]
    );
    // A key's traces do not include its nested keys'.
    assert_eq!(store.traces("a").unwrap().traces.len(), 1);
    assert!(store.traces("missing").unwrap().is_empty());
}

#[test]
fn traces_come_in_content_order_whatever_the_file_times() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    // Written in this order; content order is by canonical root input.
    let stored: Vec<_> = ["b", "d", "a", "c"]
        .into_iter()
        .map(|input| {
            store
                .write(&common::simple_trace("k", json!(input)))
                .unwrap()
        })
        .collect();
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    // File times that would order them 2, 0, 1, 3: they order nothing.
    for (i, secs) in [(2, 0), (0, 1), (1, 2), (3, 3)] {
        fs::File::options()
            .write(true)
            .open(&stored[i].path)
            .unwrap()
            .set_modified(base + Duration::from_secs(secs))
            .unwrap();
    }
    let order: Vec<String> = store
        .traces("k")
        .unwrap()
        .traces
        .into_iter()
        .map(|s| s.hash)
        .collect();
    assert_eq!(
        order,
        [
            &stored[2].hash,
            &stored[0].hash,
            &stored[3].hash,
            &stored[1].hash
        ]
        .map(String::clone)
    );
}

#[test]
fn recorded_at_is_opt_in_and_orders_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap().with_recorded_at(true);
    let trace = common::simple_trace("k", json!("same"));
    let first = store.write(&trace).unwrap();
    let text = fs::read_to_string(&first.path).unwrap();
    assert!(text.contains("\"recorded_at\": \""), "{text}");
    assert_eq!(
        store.load(&first.hash).unwrap().recorded_at,
        first.recorded_at
    );
    // Stamped bytes differ, but the same root input recorded again
    // supersedes the first recording: one file, the second.
    let second = store.write(&trace).unwrap();
    assert!(first.recorded_at.unwrap() <= second.recorded_at.unwrap());
    let found = store.traces("k").unwrap();
    assert!(found.errors.is_empty());
    assert_eq!(found.traces.len(), 1);
    assert_eq!(found.traces[0].hash, second.hash);
    assert_eq!(found.traces[0].recorded_at, second.recorded_at);
    // Another root input sorts by its input, not by its (earlier) stamp.
    let earlier = store
        .write(&common::simple_trace("k", json!("other")))
        .unwrap();
    fs::File::options()
        .write(true)
        .open(&second.path)
        .unwrap()
        .set_modified(SystemTime::UNIX_EPOCH)
        .unwrap();
    let order: Vec<String> = store
        .traces("k")
        .unwrap()
        .traces
        .into_iter()
        .map(|s| s.hash)
        .collect();
    assert_eq!(order, [earlier.hash, second.hash]);
}

#[test]
fn malformed_traces_are_refused_before_anything_is_written() {
    let store = TempStore::new();
    let empty = Trace { spans: Vec::new() };
    let mut orphan = common::simple_trace("k", json!(1));
    let mut child = orphan.spans[0].clone();
    child.id = SpanId(1);
    child.parent = Some(SpanId(7));
    orphan.spans.push(child);
    let mut unsorted = common::simple_trace("k", json!(1));
    let mut second = unsorted.spans[0].clone();
    second.parent = Some(SpanId(0));
    unsorted.spans.insert(0, second);
    for trace in [empty, orphan, unsorted] {
        assert!(
            matches!(store.write(&trace), Err(CassetteError::InvalidTrace { .. })),
            "{trace:?}"
        );
    }
    assert!(common::tree_under(store.path()).is_empty());
}
