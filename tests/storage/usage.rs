//! Issue 12, item 3: the usage ledger. Replay notes which cassettes served
//! calls; the ledger lists the others as unused; parallel test processes
//! each add what they used; the store's own scans never see the ledger.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::Arc;

use tracedeck::cassette::{CassetteFile, LEDGER_ROOT, Store, UsageLedger};
use tracedeck::replay::replay;
use tracedeck::{Model, ModelRequest, Player, Recorder, Script, ScriptedModel, with_span};

const KEYS: [&str; 4] = ["capital", "weather", "agents/plan", "agents/plan/tools"];

fn ask(question: &str) -> ModelRequest {
    ModelRequest::new("m").user(question)
}

/// Records one trace per key (two for `capital`), each with one model call.
fn record(store: &Store, keys: &[&str]) {
    let model = Recorder::new(ScriptedModel::new(Script::text("ok")), store.sink());
    tracedeck::testing::run_paused(async {
        for key in keys {
            let inputs: &[&str] = if *key == "capital" {
                &["France", "Spain"]
            } else {
                &["one"]
            };
            for input in inputs {
                with_span(*key, *input, async {
                    model
                        .generate(ask(&format!("{key}: {input}")))
                        .await
                        .map(|r| r.text)
                        .map_err(|e| e.to_string())
                })
                .await
                .unwrap();
            }
        }
        assert!(model.flush().await.is_clean());
    });
}

fn entries(files: &[CassetteFile]) -> BTreeSet<String> {
    files.iter().map(CassetteFile::entry).collect()
}

fn files_of(store: &Store, key: &str) -> Vec<CassetteFile> {
    let all = store.usage().cassettes().unwrap();
    all.into_iter().filter(|c| c.key == key).collect()
}

#[test]
fn a_player_notes_the_cassettes_it_serves_and_the_rest_are_unused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    record(&store, &["capital", "weather"]);
    let ledger = store.usage();
    assert!(ledger.used().unwrap().is_empty(), "nothing replayed yet");
    assert_eq!(
        ledger.unused().unwrap().len(),
        3,
        "every cassette is unused"
    );

    let player = Player::from_store(&store, "capital").unwrap();
    tracedeck::testing::run_paused(async {
        player.generate(ask("capital: Spain")).await.unwrap();
        // Served twice from one cassette (repeats allowed): noted once.
        let player = player.clone().allow_repeats();
        player.generate(ask("capital: Spain")).await.unwrap();
    });

    let spain: Vec<CassetteFile> = files_of(&store, "capital")
        .into_iter()
        .filter(|c| store.load(&c.hash).unwrap().trace.root().input == serde_json::json!("Spain"))
        .collect();
    assert_eq!(ledger.used().unwrap(), entries(&spain));
    let mut expected_unused: Vec<CassetteFile> = store.usage().cassettes().unwrap();
    expected_unused.retain(|c| !spain.contains(c));
    assert_eq!(ledger.unused().unwrap(), expected_unused);
    assert_eq!(
        expected_unused
            .iter()
            .filter(|c| c.key == "weather")
            .count(),
        1
    );
    // One line, in one file of this process.
    let logs: Vec<_> = std::fs::read_dir(ledger.folder())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let text = std::fs::read_to_string(ledger.folder().join(&logs[0])).unwrap();
    assert_eq!(text, format!("{}\n", spain[0].entry()));
    assert!(ledger.started().is_some());

    // Reset forgets it; a replay() notes every trace it replays.
    ledger.reset().unwrap();
    assert!(ledger.used().unwrap().is_empty());
    let report = tracedeck::testing::run_paused(replay(
        &store,
        "weather",
        |input: String, model: Arc<dyn Model>| async move {
            model
                .generate(ask(&format!("weather: {input}")))
                .await
                .map(|r| r.text)
                .map_err(|e| e.to_string())
        },
    ))
    .unwrap();
    report.assert_unchanged();
    assert_eq!(
        ledger.used().unwrap(),
        entries(&files_of(&store, "weather"))
    );
    assert_eq!(ledger.unused().unwrap(), files_of(&store, "capital"));
}

#[test]
fn the_ledger_is_invisible_to_the_store_and_to_git() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    record(&store, &["capital"]);
    let player = Player::from_whole_store(&store).unwrap();
    tracedeck::testing::run_paused(async {
        player.generate(ask("capital: France")).await.unwrap();
    });
    assert_eq!(store.usage().used().unwrap().len(), 1);
    assert!(tmp.path().join(LEDGER_ROOT).is_dir());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join(LEDGER_ROOT).join(".gitignore"))
            .unwrap()
            .lines()
            .last(),
        Some("*")
    );
    assert_eq!(store.keys().unwrap(), ["capital"]);
    let report = store.verify();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.checked(), 2);
    assert_eq!(store.usage().cassettes().unwrap().len(), 2);
}

#[test]
fn a_read_only_ledger_never_fails_a_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    record(&store, &["weather"]);
    // The ledger's place is taken by a file: every ledger write fails.
    // (Recording made the folder for the lookup index: it goes too.)
    std::fs::remove_dir_all(tmp.path().join(LEDGER_ROOT)).unwrap();
    std::fs::write(tmp.path().join(LEDGER_ROOT), "not a folder").unwrap();
    let before = UsageLedger::write_failures();
    let player = Player::from_store(&store, "weather").unwrap();
    let answer = tracedeck::testing::run_paused(async {
        player.generate(ask("weather: one")).await.unwrap().text
    });
    assert_eq!(answer, "ok");
    assert!(UsageLedger::write_failures() > before);
    // Reading the broken ledger is an error of its own, not a replay's.
    assert!(store.usage().used().is_err());
    assert_eq!(store.keys().unwrap(), ["weather"]);
}

const CHILD_DIR: &str = "TRACEDECK_TEST_LEDGER_STORE";
const CHILD_KEY: &str = "TRACEDECK_TEST_LEDGER_KEY";

#[test]
fn four_processes_replaying_different_keys_all_land_in_the_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    record(&store, &KEYS);
    store.usage().reset().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = KEYS
        .iter()
        .map(|key| {
            Command::new(&exe)
                .args([
                    "usage::child_process_replayer",
                    "--exact",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env(CHILD_DIR, tmp.path())
                .env(CHILD_KEY, key)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "a replaying process failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("1 passed"),
            "the child did not run: {stdout}"
        );
    }
    let ledger = store.usage();
    let used = ledger.used().unwrap();
    let replayed: BTreeSet<String> = KEYS
        .iter()
        .flat_map(|key| entries(&files_of(&store, key)))
        .filter(|entry| !entry.starts_with("capital/"))
        .collect();
    // Each child replays its key's first trace: for capital, one of two.
    assert_eq!(used.len(), KEYS.len(), "{used:?}");
    assert!(replayed.is_subset(&used), "{used:?}");
    assert_eq!(used.iter().filter(|e| e.starts_with("capital/")).count(), 1);
    assert_eq!(ledger.unused().unwrap().len(), 1, "the other capital trace");
    let logs = std::fs::read_dir(ledger.folder())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".log")
        })
        .count();
    assert_eq!(logs, KEYS.len(), "one file per process");
}

/// Run only as a child of
/// `four_processes_replaying_different_keys_all_land_in_the_ledger`:
/// replays the first recorded call of its key.
#[test]
#[ignore = "helper: run as a child process by four_processes_replaying_different_keys_all_land_in_the_ledger"]
fn child_process_replayer() {
    let (Ok(dir), Ok(key)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_KEY)) else {
        eprintln!("not started by the ledger test: nothing to do");
        return;
    };
    let store = Store::open(dir).unwrap();
    let player = Player::from_store(&store, &key).unwrap();
    let input = if key == "capital" { "France" } else { "one" };
    tracedeck::testing::run_paused(async {
        player
            .generate(ask(&format!("{key}: {input}")))
            .await
            .unwrap();
    });
    assert_eq!(UsageLedger::write_failures(), 0);
}

#[test]
fn cassettes_recorded_after_the_ledger_started_count_as_used() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    // Recording alone starts no ledger (it keeps only the lookup index there).
    record(&store, &["capital"]);
    assert!(!store.usage().folder().exists());
    assert!(store.usage().started().is_none());

    // Once started, what a run records is in use: prune never takes a
    // cassette the run that ran just before it wrote.
    store.usage().reset().unwrap();
    record(&store, &["weather"]);
    let ledger = store.usage();
    assert_eq!(
        ledger.used().unwrap(),
        entries(&files_of(&store, "weather"))
    );
    assert_eq!(ledger.unused().unwrap(), files_of(&store, "capital"));
}
