//! Issue 3, point 4: hostile keys are refused with `InvalidKey` by every
//! entry point, and nothing is ever created outside the store's folder.

use crate::common;

use std::path::Component;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::json;
use tracedeck::Sink;
use tracedeck::cassette::{CassetteError, KeyProblem, MAX_SEGMENT_BYTES, Store, validate_key};
use tracedeck::sink::SinkError;
use tracedeck::testing::run_paused;

fn hostile_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "",
        ".",
        "..",
        "../x",
        "../../etc/x",
        "a/../../b",
        "a/./b",
        "a//b",
        "a/",
        "/",
        "/etc/passwd",
        "/a",
        "C:\\x",
        "C:x",
        "a\\b",
        "..\\..\\x",
        "a\0b",
        "\0",
        "a b",
        "~/x",
        "$HOME",
        "a:b",
        "%2e%2e/x",
        "caf\u{e9}",
        "\u{2024}\u{2024}/x",
        "a\nb",
        "con",
        "a/NUL.json",
        "a./b",
    ]
    .map(String::from)
    .into();
    keys.push("x".repeat(MAX_SEGMENT_BYTES + 1));
    keys.push(format!("a/{}", "y".repeat(1000)));
    keys.push(["seg"; 300].join("/"));
    keys
}

#[test]
fn every_hostile_key_is_refused_everywhere_and_nothing_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    // The store lies two levels down, so `../..` from a key folder would
    // still land inside `tmp`, where the listing below would see it.
    let store = Store::open(tmp.path().join("a/b/store")).unwrap();
    let before = common::tree_under(tmp.path());
    let sink = store.sink();
    for key in hostile_keys() {
        let is_invalid = |r: Result<(), CassetteError>| matches!(r, Err(CassetteError::InvalidKey { key: ref k, .. }) if *k == key);
        assert!(is_invalid(validate_key(&key)), "validate_key({key:?})");
        assert!(is_invalid(store.traces(&key).map(drop)), "traces({key:?})");
        assert!(
            is_invalid(store.key_dir(&key).map(drop)),
            "key_dir({key:?})"
        );
        let trace = common::simple_trace(&key, json!("payload"));
        assert!(is_invalid(store.write(&trace).map(drop)), "write({key:?})");
        assert!(
            is_invalid(store.encode(&trace).map(drop)),
            "encode({key:?})"
        );
        // The sink refuses it at once, without queueing it.
        match sink.accept(Arc::new(trace)) {
            Err(SinkError::Write {
                key: k, message, ..
            }) => {
                assert_eq!(k, key);
                assert!(message.contains("invalid cassette key"), "{message}");
            }
            other => panic!("accept({key:?}): {other:?}"),
        }
    }
    assert!(sink.flush_blocking().is_empty());
    assert_eq!(sink.stats().accepted, 0);
    assert_eq!(common::tree_under(tmp.path()), before);
    assert!(store.keys().unwrap().is_empty());
}

#[test]
fn a_model_call_under_a_hostile_key_succeeds_and_the_loss_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let before = common::tree_under(tmp.path());
    let model = tracedeck::Recorder::new(common::echo_model(), store.sink());
    let report = run_paused(async {
        common::run_session(&model, "../../escape", "hi").await;
        model.flush().await
    });
    assert_eq!(report.lost, 1);
    assert_eq!(report.delivered, 0);
    assert!(matches!(&report.errors[0], SinkError::Write { key, .. } if key == "../../escape"));
    assert_eq!(common::tree_under(tmp.path()), before);
}

#[test]
fn the_problem_is_named() {
    let problem = |key: &str| match validate_key(key) {
        Err(CassetteError::InvalidKey { problem, .. }) => problem,
        other => panic!("{other:?}"),
    };
    assert_eq!(problem("/etc/passwd"), KeyProblem::Absolute);
    assert_eq!(problem("C:\\x"), KeyProblem::Backslash);
    assert_eq!(problem("a//b"), KeyProblem::EmptySegment { index: 1 });
    assert!(matches!(
        problem("../../etc/x"),
        KeyProblem::DotSegment { .. }
    ));
    assert_eq!(problem("a\0b"), KeyProblem::Nul);
    assert!(matches!(
        problem(&"x".repeat(129)),
        KeyProblem::SegmentTooLong { len: 129, .. }
    ));
    let message = validate_key("../../etc/x").unwrap_err().to_string();
    assert!(message.contains("\"../../etc/x\""), "{message}");
}

#[cfg(unix)]
#[test]
fn a_symlinked_key_folder_is_not_followed_out_of_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    std::os::unix::fs::symlink(&outside, store.dir().join("linked")).unwrap();

    let err = store
        .write(&common::simple_trace("linked/x", json!(1)))
        .unwrap_err();
    assert!(matches!(err, CassetteError::Io { .. }), "{err}");
    assert_eq!(err.path(), Some(store.dir().join("linked").as_path()));
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(common::tree_under(&outside).is_empty());
    // Reading does not follow it either.
    assert!(store.keys().unwrap().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig {
        // A failing case is printed; no regression file is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::with_cases(512)
    })]

    /// Whatever the string, a key that passes validation names a folder
    /// strictly inside the store: only plain segments, no root, no `..`.
    #[test]
    fn a_valid_key_always_stays_inside_the_store(key in "[a-zA-Z0-9./\\\\:_ \\x00~-]{0,12}") {
        let store_dir = std::path::Path::new("/store");
        let valid = validate_key(&key).is_ok();
        let mut path = store_dir.to_path_buf();
        path.extend(key.split('/'));
        if valid {
            let rel = path.strip_prefix(store_dir).unwrap();
            prop_assert!(rel.components().count() >= 1);
            prop_assert!(rel.components().all(|c| matches!(c, Component::Normal(_))), "{}", key);
            prop_assert!(!key.contains(['\\', '\0', ':', ' ', '~']));
            prop_assert_eq!(rel.components().count(), key.split('/').count());
        } else {
            let refused = matches!(validate_key(&key), Err(CassetteError::InvalidKey { .. }));
            prop_assert!(refused);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // A failing case is printed; no regression file is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::with_cases(64)
    })]

    /// Writing under any generated key either fails with InvalidKey (and
    /// creates nothing) or creates the file inside the store.
    #[test]
    fn writing_under_any_key_never_escapes(key in "[a.b/\\\\]{1,8}") {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path().join("x/y/store")).unwrap();
        match store.write(&common::simple_trace(&key, json!(0))) {
            Ok(stored) => {
                prop_assert!(validate_key(&key).is_ok());
                prop_assert!(stored.path.starts_with(store.dir()));
            }
            Err(CassetteError::InvalidKey { .. }) => {
                prop_assert!(common::tree_under(store.dir()).is_empty());
            }
            Err(other) => prop_assert!(false, "unexpected {}", other),
        }
        let escaped: Vec<_> = common::tree_under(tmp.path())
            .into_iter()
            .filter(|p| !p.starts_with("x/y/store") && !["x", "x/y"].contains(&p.to_str().unwrap()))
            .collect();
        prop_assert!(escaped.is_empty(), "{:?}", escaped);
    }
}
