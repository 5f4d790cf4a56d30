//! The `tracedeck` binary run on the committed example cassettes
//! (`cassettes/examples/` at the repository root, see the library's
//! `tests/storage/example_cassettes.rs`): each command's
//! output, exit codes, JSON that parses, `verify` failing on a corrupted copy
//! with the file named, and a timeline that is well-formed SVG with one bar
//! per span and one tick per streamed part.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tracedeck::cassette::Store;

/// The committed example store, relative to the repository root (where the binary runs).
const EXAMPLES: &str = "cassettes/examples";
/// The weather turn: four spans, two streamed calls and a tool run.
const WEATHER: &str = "dc195aadf2d5459ab968a7e7004b00c0f4db12283479107e6a368e6530cece03";
/// The two triage tickets.
const TRIAGE_SAM: &str = "7522227012363a97a37cfcec3af393f63d2be4ac0daf05c327ad2e908d11387f";
const TRIAGE_ADA: &str = "033b04792934a02e03522009da7919d3c5cedbffa9a4a473b3c45c49742e45dc";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The repository root: the library's package, one level above this crate's `cli/`.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ lies inside the repository")
}

/// Runs `tracedeck ARGS` from the repository root with no `TRACEDECK_DIR` set.
fn tracedeck(args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_tracedeck"))
        .args(args)
        .current_dir(root())
        .env_remove("TRACEDECK_DIR")
        .output()
        .expect("run tracedeck");
    Run {
        code: status.code().expect("exited normally, not by a signal"),
        stdout: String::from_utf8(stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(stderr).expect("UTF-8 stderr"),
    }
}

/// Runs `tracedeck --dir cassettes/examples ARGS` and expects exit status `code`.
fn examples(args: &[&str], code: i32) -> Run {
    let mut all = vec!["--dir", EXAMPLES];
    all.extend_from_slice(args);
    let run = tracedeck(&all);
    assert_eq!(
        run.code, code,
        "tracedeck {all:?}\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// A copy of the example store in a temporary folder.
fn copy_of_examples() -> (tempfile::TempDir, PathBuf) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_name() == tracedeck::cassette::LEDGER_ROOT {
                continue; // the usage ledger of test runs in the repository
            }
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cassettes");
    copy(&root().join(EXAMPLES), &dir);
    (tmp, dir)
}

#[test]
fn ls_lists_keys_counts_sizes_and_newest() {
    let run = examples(&["ls"], 0);
    insta::with_settings!({filters => vec![(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[time]")]}, {
        insta::assert_snapshot!("ls", run.stdout);
    });
    // A positional folder overrides --dir.
    let positional = tracedeck(&["--dir", "nowhere", "ls", EXAMPLES]);
    assert_eq!(positional.code, 0, "{}", positional.stderr);
    assert_eq!(positional.stdout, run.stdout);
}

#[test]
fn ls_json_parses() {
    let run = examples(&["ls", "--json"], 0);
    let keys = json(&run.stdout);
    let keys = keys.as_array().unwrap();
    let names: Vec<&str> = keys.iter().map(|k| k["key"].as_str().unwrap()).collect();
    assert_eq!(names, ["chat-turn", "summarize", "support/triage"]);
    let counts: Vec<u64> = keys.iter().map(|k| k["traces"].as_u64().unwrap()).collect();
    assert_eq!(counts, [3, 1, 2]);
    let chat_bytes: u64 = std::fs::read_dir(root().join(EXAMPLES).join("chat-turn"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(keys[0]["bytes"].as_u64(), Some(chat_bytes));
    assert!(keys.iter().all(|k| k["newest"].is_string()));
}

/// A file time RFC 3339 cannot write (here 1960, as files unpacked from an
/// old archive can have) is listed as no time, instead of crashing `ls`.
#[test]
fn ls_lists_a_key_whose_files_date_from_before_1970() {
    let (_tmp, dir) = copy_of_examples();
    let ten_years = std::time::Duration::from_secs(10 * 365 * 24 * 3600);
    for entry in std::fs::read_dir(dir.join("summarize")).unwrap() {
        std::fs::File::options()
            .write(true)
            .open(entry.unwrap().path())
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH - ten_years)
            .unwrap();
    }
    let dir = dir.to_str().unwrap();
    let run = tracedeck(&["ls", dir]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summarize = run
        .stdout
        .lines()
        .find(|l| l.starts_with("summarize "))
        .unwrap();
    assert!(summarize.ends_with("  -"), "{}", run.stdout);

    let listed = json(&tracedeck(&["ls", dir, "--json"]).stdout);
    let newest: Vec<bool> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.get("newest").is_some())
        .collect();
    assert_eq!(newest, [true, false, true], "{listed}");
}

#[test]
fn show_prints_the_span_tree_with_durations_ttft_tokens_and_status() {
    let run = examples(&["show", &WEATHER[..8]], 0);
    insta::assert_snapshot!("show_weather", run.stdout);
    for expected in [
        "ttft 500ms",
        "tokens 131→44",
        "tool/get_weather #2 task ok 120ms",
    ] {
        assert!(run.stdout.contains(expected), "{expected}");
    }
    // A failed and a cancelled call say so.
    let summarize = examples(&["show", "summarize"], 0);
    assert!(
        summarize
            .stdout
            .contains("stream cancelled 700ms opened 300ms ttft 500ms")
    );
    let chat = examples(&["show", "chat-turn"], 0);
    assert!(chat.stdout.starts_with("chat-turn · 3 traces\n"));
    assert_eq!(chat.stdout.matches("\ntrace ").count(), 3);
    assert!(chat.stdout.contains(
        "stream error 625ms opened 300ms ttft 520ms tokens 40→3 parts 8 (openai reported server_error"
    ));
}

#[test]
fn show_parts_lists_every_part_and_marks_the_first_token() {
    let run = examples(&["show", TRIAGE_SAM, "--parts"], 0);
    insta::assert_snapshot!("show_triage_parts", run.stdout);
    let listed = run
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with('+'))
        .count();
    assert_eq!(listed, 33, "one line per part of the streamed call");
    assert_eq!(run.stdout.matches("← first token").count(), 1);
}

#[test]
fn show_accepts_a_cassette_file_path() {
    let path = format!("{EXAMPLES}/support/triage/{TRIAGE_ADA}.json");
    let run = examples(&["show", &path], 0);
    assert!(
        run.stdout
            .starts_with(&format!("trace {} · support/triage", &TRIAGE_ADA[..12]))
    );
}

#[test]
fn show_json_parses_and_holds_the_trace() {
    let run = examples(&["show", "chat-turn", "--json"], 0);
    let shown = json(&run.stdout);
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), 3);
    let store = Store::open(root().join(EXAMPLES)).unwrap();
    for entry in shown {
        let hash = entry["hash"].as_str().unwrap();
        assert_eq!(entry["key"], "chat-turn");
        let trace: tracedeck::Trace = serde_json::from_value(entry["trace"].clone()).unwrap();
        assert_eq!(trace, store.load(hash).unwrap().trace);
    }
}

#[test]
fn verify_passes_on_the_committed_cassettes() {
    let run = examples(&["verify"], 0);
    insta::assert_snapshot!("verify_clean", run.stdout);
    let report = json(&examples(&["verify", "--json"], 0).stdout);
    assert_eq!(report["clean"], true);
    assert_eq!(report["checked"], 6);
}

#[test]
fn verify_fails_on_a_corrupted_copy_naming_the_file() {
    let (_tmp, dir) = copy_of_examples();
    let victim = dir.join("summarize").join(format!(
        "{}.json",
        "2e6abf90b7829572ce152658e69cfc58ba2100dde031387cdf341bb206d12a2e"
    ));
    let mut bytes = std::fs::read(&victim).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01; // one flipped bit: still the same length, no longer the same hash
    std::fs::write(&victim, &bytes).unwrap();

    let run = tracedeck(&["verify", dir.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let victim_name = victim.display().to_string();
    assert!(
        run.stdout.contains(&format!("FAIL {victim_name}\n")),
        "names the file:\n{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.matches("FAIL ").count(),
        1,
        "only that file fails"
    );
    assert!(run.stdout.contains("6 cassettes checked"));
    assert!(run.stdout.contains("5 ok, 1 with problems"));

    let report = json(&tracedeck(&["verify", "--json", dir.to_str().unwrap()]).stdout);
    assert_eq!(report["clean"], false);
    let failing: Vec<&Value> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ok"] == false)
        .collect();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0]["path"], victim_name.as_str());
    assert!(!failing[0]["problems"].as_array().unwrap().is_empty());
}

#[test]
fn verify_flags_a_secret_in_a_well_formed_cassette() {
    let (_tmp, dir) = copy_of_examples();
    let store = Store::open(&dir).unwrap();
    let mut trace = store.load(&TRIAGE_ADA[..8]).unwrap().trace;
    trace.spans[0].input =
        serde_json::json!({"api_key": "sk-proj-abcdefghijklmnopqrstuvwxyz0123"}).into();
    let leaked = store.write(&trace).unwrap();

    let run = tracedeck(&["verify", dir.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("FAIL {}\n", leaked.path.display()))
    );
    assert!(run.stdout.contains("secret:"), "{}", run.stdout);
    assert!(
        run.stdout.contains("/trace/spans/0/input/api_key"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("abcdefghijklmnopqrstuvwxyz0123"),
        "never prints the whole secret"
    );
}

#[test]
fn stats_per_model_percentiles_and_tokens() {
    let run = examples(&["stats", "chat-turn", "support/triage"], 0);
    insta::assert_snapshot!("stats", run.stdout);
    let all = json(&examples(&["stats", "--json"], 0).stdout);
    assert_eq!(
        all["keys"],
        serde_json::json!(["chat-turn", "summarize", "support/triage"])
    );
    assert_eq!(all["traces"], 6);
    assert_eq!(all["calls"], 9);
    let mini = all["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"]["model"] == "gpt-4o-mini")
        .unwrap();
    assert_eq!(mini["calls"], 7);
    assert_eq!(mini["errors"], 1);
    assert_eq!(mini["cancelled"], 1);
    assert_eq!(mini["ttft"]["max_us"], 610_000);
}

#[test]
fn diff_names_what_changed_and_exits_1() {
    let run = examples(&["diff", &TRIAGE_SAM[..8], &TRIAGE_ADA[..8]], 1);
    insta::assert_snapshot!("diff_triage", run.stdout);
    let same = examples(&["diff", TRIAGE_SAM, TRIAGE_SAM], 0);
    assert!(same.stdout.ends_with("the traces are the same\n"));

    let json = json(&examples(&["diff", TRIAGE_SAM, TRIAGE_ADA, "--json"], 1).stdout);
    assert_eq!(json["same"], false);
    assert_eq!(json["old"], TRIAGE_SAM);
    assert_eq!(json["spans"]["changed"].as_array().unwrap().len(), 3);
    assert_eq!(json["timing"].as_array().unwrap().len(), 2);
}

#[test]
fn timeline_writes_well_formed_svg_with_a_bar_per_span_and_a_tick_per_part() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("weather.svg");
    let run = examples(&["timeline", WEATHER, "-o", file.to_str().unwrap()], 0);
    assert!(
        run.stdout
            .starts_with("wrote dc195aadf2d5 (chat-turn · 4 spans · 48 streamed parts)")
    );

    let svg = std::fs::read_to_string(&file).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let with_class = |class: &str| {
        doc.descendants()
            .filter(|n| {
                n.attribute("class")
                    .is_some_and(|c| c.split(' ').next() == Some(class))
            })
            .count()
    };
    let trace = Store::open(root().join(EXAMPLES))
        .unwrap()
        .load(WEATHER)
        .unwrap()
        .trace;
    let parts: usize = trace.spans.iter().map(|s| s.parts.len()).sum();
    assert_eq!(with_class("bar"), trace.spans.len());
    assert_eq!(with_class("tick"), parts);
    assert_eq!(with_class("ttft"), 2, "both streamed calls mark their TTFT");

    // Without -o the SVG goes to standard output, byte for byte the same.
    assert_eq!(examples(&["timeline", &WEATHER[..6]], 0).stdout, svg);
}

#[test]
fn errors_say_what_to_do_and_exit_2() {
    let missing = tracedeck(&["--dir", "no/such/folder", "ls"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("no cassette folder at `no/such/folder`")
    );
    assert!(
        !root().join("no").exists(),
        "reading never creates the folder"
    );

    let unknown = examples(&["show", "no-such-key"], 2);
    assert!(
        unknown
            .stderr
            .contains("no key or trace hash `no-such-key`")
    );
    assert!(unknown.stderr.contains("tracedeck ls"));

    let several = examples(&["timeline", "chat-turn"], 2);
    assert!(
        several
            .stderr
            .contains("key `chat-turn` has 3 traces; name one by hash")
    );
    assert!(several.stderr.contains(&WEATHER[..12]));

    let hostile = examples(&["show", "../../etc/passwd"], 2);
    assert!(hostile.stderr.starts_with("error: "));

    let unwritable = tempfile::tempdir().unwrap();
    let target = unwritable.path().join("missing-folder").join("t.svg");
    let failed = examples(&["timeline", WEATHER, "-o", target.to_str().unwrap()], 2);
    assert!(failed.stderr.contains("could not write"));

    let usage = tracedeck(&["diff", "only-one"]);
    assert_eq!(usage.code, 2);
    for run in [&missing, &unknown, &several, &hostile, &failed, &usage] {
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

#[test]
fn a_folder_holding_stores_points_at_them() {
    // `cassettes/` holds the example store (and the quickstart's, once run):
    // its files sit one folder too deep for it to be a store itself.
    for run in [
        tracedeck(&["--dir", "cassettes", "ls"]),
        tracedeck(&["verify", "cassettes"]),
        tracedeck(&["show", "chat-turn"]),
    ] {
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.starts_with("error: `cassettes` holds "),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("cassettes/examples"), "{}", run.stderr);
        assert!(run.stderr.contains(" with --dir"), "{}", run.stderr);
    }

    // Two stores side by side: every command names both, and none acts.
    let (tmp, examples) = copy_of_examples();
    let parent = tmp.path().join("stores");
    std::fs::create_dir_all(&parent).unwrap();
    let first = parent.join("examples");
    let second = parent.join("quickstart");
    std::fs::rename(&examples, &first).unwrap();
    copy_tree(&first, &second);
    let parent = parent.to_str().unwrap();
    let expected = format!(
        "error: `{parent}` holds 2 stores: {}, {}; pass one with --dir, e.g. `tracedeck --dir {} ...`\n",
        first.display(),
        second.display(),
        first.display()
    );
    let commands: [&[&str]; 7] = [
        &["ls"],
        &["show", "chat-turn"],
        &["verify"],
        &["stats"],
        &["diff", TRIAGE_SAM, TRIAGE_ADA],
        &["timeline", WEATHER],
        &["prune", "--yes"],
    ];
    for args in commands {
        let mut all = vec!["--dir", parent];
        all.extend_from_slice(args);
        let run = tracedeck(&all);
        assert_eq!(run.code, 2, "{all:?}: {}", run.stderr);
        assert_eq!(run.stderr, expected, "{all:?}");
    }
    assert_eq!(
        std::fs::read_dir(second.join("chat-turn")).unwrap().count(),
        3,
        "prune deleted nothing"
    );
}

#[test]
fn a_key_typo_gets_did_you_mean() {
    let show = examples(&["show", "chat-trun"], 2);
    assert!(
        show.stderr.contains(
            "no key or trace hash `chat-trun` in `cassettes/examples`: did you mean `chat-turn`? (`tracedeck ls` lists the keys)"
        ),
        "{}",
        show.stderr
    );
    let stats = examples(&["stats", "support/triag"], 2);
    assert!(
        stats.stderr.contains("did you mean `support/triage`?"),
        "{}",
        stats.stderr
    );
    let far = examples(&["show", "billing"], 2);
    assert!(!far.stderr.contains("did you mean"), "{}", far.stderr);
    assert!(
        far.stderr.contains("; `tracedeck ls` lists the keys"),
        "{}",
        far.stderr
    );
}

#[test]
fn diff_can_ignore_timing_only_differences() {
    let (_tmp, dir) = copy_of_examples();
    let store = Store::open(&dir).unwrap();
    let original = store.load(TRIAGE_SAM).unwrap();
    let original_bytes = std::fs::read(&original.path).unwrap();
    let mut trace = original.trace;
    for span in &mut trace.spans {
        span.timing.duration_us += 250_000;
        if let Some(ttft) = span.timing.ttft_us.as_mut() {
            *ttft += 100_000;
        }
        for part in &mut span.parts {
            part.offset_us += 100_000;
        }
    }
    let slower = store.write(&trace).unwrap();
    // The store supersedes a re-recording of the same root input; two
    // recordings of one input still meet, e.g. from two branches: put the
    // first one back beside the second.
    std::fs::write(&original.path, original_bytes).unwrap();
    let dir = dir.to_str().unwrap();
    let plain = tracedeck(&["--dir", dir, "diff", TRIAGE_SAM, &slower.hash]);
    assert_eq!(plain.code, 1, "{}", plain.stdout);
    assert!(
        plain.stdout.contains("span trees: same spans"),
        "{}",
        plain.stdout
    );
    assert!(
        plain
            .stdout
            .ends_with("the traces differ only in timing (`--ignore-timing` ignores that)\n"),
        "{}",
        plain.stdout
    );
    let ignored = tracedeck(&[
        "--dir",
        dir,
        "diff",
        TRIAGE_SAM,
        &slower.hash,
        "--ignore-timing",
    ]);
    assert_eq!(ignored.code, 0, "{}", ignored.stdout);
    assert!(
        ignored
            .stdout
            .ends_with("the traces are the same apart from timing (ignored: --ignore-timing)\n"),
        "{}",
        ignored.stdout
    );
    let json = json(
        &tracedeck(&[
            "--dir",
            dir,
            "diff",
            TRIAGE_SAM,
            &slower.hash,
            "--ignore-timing",
            "--json",
        ])
        .stdout,
    );
    assert_eq!(json["same"], true);
    assert_eq!(json["timing_ignored"], true);
    // A content change still fails with timing ignored.
    let other = tracedeck(&[
        "--dir",
        dir,
        "diff",
        TRIAGE_SAM,
        TRIAGE_ADA,
        "--ignore-timing",
    ]);
    assert_eq!(other.code, 1, "{}", other.stdout);
}

/// Runs git in `dir` with a fixed identity and commit time.
fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", "2001-02-03T04:05:06Z")
        .env("GIT_COMMITTER_DATE", "2001-02-03T04:05:06Z")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .expect("run git");
    assert!(
        status.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[test]
fn ls_shows_the_commit_time_of_tracked_cassettes_and_labels_file_times() {
    // Untracked: the file times, labelled as modification times.
    let (tmp, dir) = copy_of_examples();
    let untracked = tracedeck(&["ls", dir.to_str().unwrap()]);
    assert_eq!(untracked.code, 0, "{}", untracked.stderr);
    let header = untracked.stdout.lines().next().unwrap();
    assert!(header.ends_with("MODIFIED"), "{}", untracked.stdout);
    let listed = json(&tracedeck(&["ls", dir.to_str().unwrap(), "--json"]).stdout);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["newest_source"] == "modified"),
        "{listed}"
    );

    // Committed (in 2001, though the files were just written): the commit time.
    git(tmp.path(), &["init", "-q"]);
    git(tmp.path(), &["add", "."]);
    git(tmp.path(), &["commit", "-q", "-m", "cassettes"]);
    let committed = tracedeck(&["ls", dir.to_str().unwrap()]);
    assert_eq!(committed.code, 0, "{}", committed.stderr);
    let mut lines = committed.stdout.lines();
    assert!(
        lines.next().unwrap().ends_with("COMMITTED"),
        "{}",
        committed.stdout
    );
    for line in lines.take(3) {
        assert!(
            line.ends_with("  2001-02-03T04:05:06Z"),
            "{}",
            committed.stdout
        );
    }

    // A new, uncommitted recording: that key shows its file time, and every
    // row says where its time comes from.
    let store = Store::open(&dir).unwrap();
    let mut trace = store.load(TRIAGE_SAM).unwrap().trace;
    trace.spans[0].input = serde_json::json!({"customer": "Lin", "body": "new"}).into();
    store.write(&trace).unwrap();
    let mixed = tracedeck(&["ls", dir.to_str().unwrap()]);
    assert!(
        mixed.stdout.lines().next().unwrap().ends_with("NEWEST"),
        "{}",
        mixed.stdout
    );
    let row = |key: &str| {
        mixed
            .stdout
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap()
            .to_owned()
    };
    assert!(
        row("chat-turn ").ends_with("2001-02-03T04:05:06Z (commit)"),
        "{}",
        mixed.stdout
    );
    assert!(
        row("support/triage ").ends_with("Z (modified)"),
        "{}",
        mixed.stdout
    );
}

/// Copies the folder tree `from` to `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn prune_lists_deletes_and_resets_unused_cassettes() {
    let (_tmp, dir) = copy_of_examples();
    let dir_arg = dir.to_str().unwrap();
    let store = Store::open(&dir).unwrap();

    // Nothing noted yet: all unused, and --yes refuses to delete everything.
    let fresh = tracedeck(&["prune", dir_arg]);
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    assert!(
        fresh.stdout.starts_with(&format!(
            "0 of 6 cassettes used since ever (no replay has noted anything yet) in {dir_arg}\n6 cassettes unused:\n"
        )),
        "{}",
        fresh.stdout
    );
    let refused = tracedeck(&["prune", dir_arg, "--yes"]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("before `tracedeck prune --yes`"),
        "{}",
        refused.stderr
    );
    assert_eq!(store.usage().cassettes().unwrap().len(), 6);

    // Replays of support/triage noted both its cassettes.
    store.usage().reset().unwrap();
    let triage = store.traces("support/triage").unwrap().traces;
    for stored in &triage {
        assert!(store.usage().note("support/triage", &stored.hash));
    }
    let listed = tracedeck(&["--dir", dir_arg, "prune"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let mut lines = listed.stdout.lines();
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("2 of 6 cassettes used since 20"),
        "{first}"
    );
    assert_eq!(lines.next(), Some("4 cassettes unused:"));
    let unused: Vec<&str> = lines.clone().take(4).collect();
    assert!(
        unused
            .iter()
            .all(|l| l.starts_with(&format!("  {dir_arg}/")) && !l.contains("support")),
        "{}",
        listed.stdout
    );
    assert_eq!(
        store.usage().cassettes().unwrap().len(),
        6,
        "listing deletes nothing"
    );

    // With a lookup index, pruning takes the entries of what it deletes.
    assert_eq!(tracedeck(&["verify", "--fix", dir_arg]).code, 0);
    let deleted = tracedeck(&["prune", dir_arg, "--yes"]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let index = &json(&tracedeck(&["verify", "--json", dir_arg]).stdout)["index"];
    assert_eq!(
        (index["unindexed"].as_u64(), index["stale"].as_u64()),
        (Some(0), Some(0)),
        "{index}"
    );
    assert!(
        deleted.stdout.contains("deleted 4 unused cassettes\n"),
        "{}",
        deleted.stdout
    );
    assert_eq!(store.keys().unwrap(), ["support/triage"]);
    assert!(
        !dir.join("summarize").exists(),
        "an emptied key folder goes too"
    );
    let ls = json(&tracedeck(&["ls", dir_arg, "--json"]).stdout);
    assert_eq!(ls.as_array().unwrap().len(), 1);
    let again = tracedeck(&["prune", dir_arg]);
    assert!(
        again.stdout.ends_with("no unused cassettes\n"),
        "{}",
        again.stdout
    );

    let reset = tracedeck(&["prune", dir_arg, "--reset"]);
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    assert!(
        reset.stdout.starts_with("usage ledger reset in "),
        "{}",
        reset.stdout
    );
    assert!(store.usage().used().unwrap().is_empty());
    let after = tracedeck(&["prune", dir_arg]);
    assert!(
        after.stdout.starts_with("0 of 2 cassettes used since 20"),
        "{}",
        after.stdout
    );
    // The ledger is no cassette: verify stays clean beside it.
    assert_eq!(tracedeck(&["verify", dir_arg]).code, 0);
}

#[test]
fn verify_fix_removes_stale_temporary_files_and_says_so() {
    let (_tmp, dir) = copy_of_examples();
    let stale = dir.join("chat-turn").join(".tmp-crashed.partial");
    std::fs::write(&stale, b"{\"half\":").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    let dir_arg = dir.to_str().unwrap();
    let run = tracedeck(&["verify", "--fix", dir_arg]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.starts_with(&format!(
            "removed {}\n--fix: 1 temporary file removed\n--fix: lookup index rebuilt: 6 cassettes in 5 folders, ",
            stale.display()
        )),
        "{}",
        run.stdout
    );
    assert!(!stale.exists());

    // A fresh one may be a live writer's: kept, and said so.
    let fresh = dir.join("summarize").join(".tmp-live.partial");
    std::fs::write(&fresh, b"{").unwrap();
    let run = tracedeck(&["verify", "--fix", "--json", dir_arg]);
    let report = json(&run.stdout);
    assert_eq!(report["fixed"]["removed"], serde_json::json!([]));
    assert_eq!(
        report["fixed"]["kept"],
        serde_json::json!([fresh.display().to_string()])
    );
    assert!(fresh.exists());
}

#[test]
fn every_command_and_flag_has_help() {
    let top = tracedeck(&["--help"]);
    assert_eq!(top.code, 0);
    for command in [
        "ls", "show", "verify", "stats", "diff", "timeline", "prune", "proxy",
    ] {
        assert!(
            top.stdout.contains(&format!("  {command} ")),
            "{command} listed"
        );
        let help = tracedeck(&["help", command]);
        assert_eq!(help.code, 0, "{command}");
        // Every argument and flag line carries a description.
        for line in help
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with('-'))
        {
            assert!(
                line.trim().split("  ").count() > 1,
                "{command}: `{line}` has no help text"
            );
        }
    }
    insta::assert_snapshot!("help", top.stdout);
}

/// Issue 15 item 3: `verify` reports the lookup index against the files,
/// and `verify --fix` rebuilds it; a store without one needs none.
#[test]
fn verify_reports_the_lookup_index_and_fix_rebuilds_it() {
    let (_tmp, dir) = copy_of_examples();
    let dir_arg = dir.to_str().unwrap();
    let before = json(&tracedeck(&["verify", "--json", dir_arg]).stdout);
    assert_eq!(before["index"]["exists"], false, "{before}");
    let plain = tracedeck(&["verify", dir_arg]);
    assert!(!plain.stdout.contains("index"), "{}", plain.stdout);

    let fixed = json(&tracedeck(&["verify", "--fix", "--json", dir_arg]).stdout);
    assert_eq!(fixed["fixed"]["index"]["cassettes"], 6, "{fixed}");
    let after = json(&tracedeck(&["verify", "--json", dir_arg]).stdout);
    assert_eq!(after["clean"], true);
    assert_eq!(after["index"]["exists"], true);
    assert_eq!(after["index"]["folders_recorded"], true);
    assert_eq!(after["index"]["unindexed"], 0);
    assert_eq!(after["index"]["stale"], 0);

    // A cassette removed behind the store's back leaves a stale entry:
    // reported as a note (lookups ignore it), not a failure; --fix removes it.
    let summarize = dir.join("summarize");
    let file = std::fs::read_dir(&summarize)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(file).unwrap();
    let noted = tracedeck(&["verify", dir_arg]);
    assert_eq!(noted.code, 0, "{}", noted.stdout);
    assert!(
        noted.stdout.contains("note: lookup index out of date: ")
            && noted.stdout.contains("1 stale entry for removed cassettes")
            && noted
                .stdout
                .contains("`tracedeck verify --fix` rebuilds it"),
        "{}",
        noted.stdout
    );
    let refixed = json(&tracedeck(&["verify", "--fix", "--json", dir_arg]).stdout);
    // Its entry, and the log of its key, which has no cassette left.
    assert_eq!(refixed["fixed"]["index"]["removed"], 2, "{refixed}");
    assert_eq!(refixed["index"]["stale"], 0, "{refixed}");
}
