//! Issue 15 item 3: the store's lookups at 50,000 traces.
//!
//! Ignored by default (generating the store takes a while); run it in
//! release mode, which also times the release build of the CLI:
//!
//! ```sh
//! cargo test --release -p tracedeck-cli --test scale -- --ignored --nocapture
//! ```
//!
//! It writes 50,000 cassettes of about 1.3 KB (50 keys × 1,000, each the
//! committed `summarize` example with its own root input and fewer parts)
//! into a temporary store with the store's own canonical encoder (files
//! written directly, as a copy or an older version leaves them: no lookup
//! index), then prints, each beside its target: `Store::load(prefix)`,
//! `Store::keys`, `Store::list` of every key in this process, and the
//! `tracedeck show <prefix>` and `ls` processes (wall time, best of a few
//! runs, and peak memory when `/usr/bin/time` is there), three times:
//! without an index; after `Store::rebuild_index` (what `verify --fix`
//! does; `Store::verify` and `tracedeck verify` are timed there too); and
//! after one `Store::write` into every key since the rebuild, when every
//! key folder is listed again. Set `TRACEDECK_BASELINE_BIN` to another
//! build of `tracedeck` to time it on the same store in the same run.
//!
//! It asserts what the commands print (every trace counted, the right
//! file shown, a clean verify), never how long they take.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tracedeck::Trace;
use tracedeck::cassette::Store;

const TRACES: usize = 50_000;
const KEYS: usize = 50;
/// Runs per measurement; the best is reported (and the median beside it).
const RUNS: usize = 5;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ lies inside the repository")
}

/// The committed `summarize` example cut down: its first two parts.
fn base_trace() -> Trace {
    let examples = Store::open(repo_root().join("cassettes/examples")).expect("examples open");
    let found = examples.traces("summarize").expect("summarize loads");
    let mut trace = found.traces[0].trace.clone();
    for span in &mut trace.spans {
        span.parts.truncate(2);
    }
    trace
}

/// Writes the store; returns the hashes written and their total bytes.
fn generate(dir: &Path) -> (Vec<String>, u64) {
    let store = Store::open(dir).expect("a temp store opens");
    let base = base_trace();
    let mut hashes = Vec::with_capacity(TRACES);
    let mut total = 0;
    for k in 0..KEYS {
        let key = format!("scale/k{k:02}");
        let folder = store.key_dir(&key).expect("a valid key");
        std::fs::create_dir_all(&folder).expect("the key folder");
        let mut trace = base.clone();
        trace.spans[0].key = key;
        for i in 0..TRACES / KEYS {
            trace.spans[0].input =
                Value::String(format!("turn {k}-{i}: release notes owner")).into();
            let (hash, bytes) = store.encode(&trace).expect("encodes");
            std::fs::write(folder.join(format!("{hash}.json")), &bytes).expect("writes");
            total += bytes.len() as u64;
            hashes.push(hash);
        }
    }
    (hashes, total)
}

/// Best and median of `RUNS` timings of `f`, with its last result.
fn time<T>(mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = f();
        times.push(start.elapsed());
        last = Some(out);
    }
    times.sort();
    (times[0], times[RUNS / 2], last.expect("RUNS > 0"))
}

struct Run {
    code: i32,
    stdout: String,
    /// Peak resident memory in KiB, when `/usr/bin/time` measured it.
    max_rss_kib: Option<u64>,
}

fn run_cli(bin: &Path, dir: &Path, args: &[&str]) -> Run {
    let timer = Path::new("/usr/bin/time");
    let mut command = if timer.exists() {
        let mut c = Command::new(timer);
        c.args(["-f", "max_rss_kib=%M"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let out = command
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("TRACEDECK_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run tracedeck");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let max_rss_kib = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("max_rss_kib="))
        .and_then(|v| v.trim().parse().ok());
    Run {
        code: out.status.code().expect("exited normally"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        max_rss_kib,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn verdict(best: Duration, target: Duration) -> &'static str {
    if best <= target { "met" } else { "MISSED" }
}

/// Times and checks `show <8-digit prefix>` of `bin`.
fn time_show(label: &str, bin: &Path, dir: &Path, hashes: &[String]) {
    let prefix = &hashes[TRACES / 2][..8];
    let (best, median, run) = time(|| run_cli(bin, dir, &["show", prefix]));
    assert_eq!(run.code, 0, "{label} show");
    assert!(
        run.stdout.starts_with(&format!("trace {}", &prefix[..7])),
        "{}",
        run.stdout
    );
    println!(
        "{label} show <8-digit prefix>: best {} (median {}), peak RSS {:?} KiB; target <= 10 ms: {}",
        ms(best),
        ms(median),
        run.max_rss_kib,
        verdict(best, Duration::from_millis(10))
    );
}

/// Times and checks `ls` of `bin`; `traces` is how many it must count.
fn time_ls(label: &str, bin: &Path, dir: &Path, traces: usize) {
    let (best, median, run) = time(|| run_cli(bin, dir, &["ls"]));
    assert_eq!(run.code, 0, "{label} ls");
    assert!(
        run.stdout
            .contains(&format!("{KEYS} keys · {traces} traces")),
        "{}",
        run.stdout
    );
    println!(
        "{label} ls: best {} (median {}), peak RSS {:?} KiB; target <= 150 ms: {}",
        ms(best),
        ms(median),
        run.max_rss_kib,
        verdict(best, Duration::from_millis(150))
    );
}

/// Times and checks `verify` of `bin`.
fn time_verify(label: &str, bin: &Path, dir: &Path) {
    let (best, median, run) = time(|| run_cli(bin, dir, &["verify"]));
    assert_eq!(run.code, 0, "{label} verify: {}", run.stdout);
    assert!(
        run.stdout.contains(&format!("{TRACES} cassettes checked")),
        "{}",
        run.stdout
    );
    println!(
        "{label} verify: best {} (median {}), peak RSS {:?} KiB; target <= 2 s: {}",
        ms(best),
        ms(median),
        run.max_rss_kib,
        verdict(best, Duration::from_secs(2))
    );
}

/// Times `Store::load(prefix)`, `Store::keys` and `Store::list` of every key.
fn time_store(label: &str, store: &Store, hashes: &[String], traces: usize) {
    let wanted = &hashes[TRACES / 2];
    let (best, median, loaded) = time(|| store.load(&wanted[..8]).expect("loads by prefix"));
    assert_eq!(&loaded.hash, wanted);
    println!(
        "{label} Store::load(<8-digit prefix>): best {} (median {})",
        ms(best),
        ms(median)
    );
    let (best, median, keys) = time(|| store.keys().expect("keys"));
    assert_eq!(keys.len(), KEYS);
    println!(
        "{label} Store::keys(): best {} (median {})",
        ms(best),
        ms(median)
    );
    let (best, median, listed) = time(|| {
        keys.iter()
            .map(|k| store.list(k).expect("lists").files.len())
            .sum::<usize>()
    });
    assert_eq!(listed, traces);
    println!(
        "{label} Store::list(key) of every key: best {} (median {})",
        ms(best),
        ms(median)
    );
}

/// Every file under `dir`, by listing folders only (no `stat`): the
/// least any lookup that does not keep an index must do.
fn list_names(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a folder lists") {
            let entry = entry.expect("an entry");
            if entry.file_type().expect("a type").is_dir() {
                folders.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files
}

/// The file system's floors on this machine, in this run: listing every
/// name, opening every file for its first 256 bytes, reading and hashing
/// every file. All on one thread.
fn floors(dir: &Path) {
    use std::io::Read as _;
    let (best, median, files) = time(|| list_names(dir));
    assert!(files.len() > TRACES);
    println!(
        "floor: read_dir of every folder, names only ({} entries): best {} (median {})",
        files.len(),
        ms(best),
        ms(median)
    );
    let (best, median, _) = time(|| {
        let mut head = [0u8; 256];
        for path in &files {
            let mut file = std::fs::File::open(path).expect("opens");
            let _ = file.read(&mut head).expect("reads");
        }
    });
    println!(
        "floor: open + read the first 256 bytes of every file: best {} (median {})",
        ms(best),
        ms(median)
    );
    let start = Instant::now();
    for path in &files {
        let bytes = std::fs::read(path).expect("reads");
        std::hint::black_box(tracedeck::cassette::sha256_hex(&bytes));
    }
    println!(
        "floor: read + sha256 of every file: {}",
        ms(start.elapsed())
    );
}

#[test]
#[ignore = "generates a 50,000-cassette store; run with --release -- --ignored --nocapture"]
fn lookups_listing_and_verify_at_50_000_traces() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    // TRACEDECK_SCALE_KEEP=<new folder>: generate the store there, build its
    // index, keep it and stop (to time or profile commands by hand).
    let keep = std::env::var_os("TRACEDECK_SCALE_KEEP").map(PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| tmp.path().join("store"));
    let start = Instant::now();
    let (hashes, total) = generate(&dir);
    if let Some(dir) = keep {
        let rebuilt = Store::open(&dir).and_then(|s| s.rebuild_index());
        println!("kept in {}: {rebuilt:?}", dir.display());
        return;
    }
    println!(
        "== issue 15 item 3: {TRACES} cassettes in {KEYS} keys, {:.1} MB, {} bytes each on average (generated in {:.1} s) ==",
        total as f64 / 1e6,
        total / TRACES as u64,
        start.elapsed().as_secs_f64()
    );
    if cfg!(debug_assertions) {
        println!("(debug build: run with --release for the published figures)");
    }
    println!(
        "available parallelism: {:?}",
        std::thread::available_parallelism()
    );

    floors(&dir);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tracedeck"));
    let store = Store::open(&dir).expect("the store opens");

    // 1. As an older version (or a copy, or a clone) leaves it: no index.
    time_store("no index:", &store, &hashes, TRACES);
    time_show("no index: tracedeck", &bin, &dir, &hashes);
    time_ls("no index: tracedeck", &bin, &dir, TRACES);

    // 2. What `tracedeck verify --fix` does: rebuild the index.
    let start = Instant::now();
    let rebuilt = store.rebuild_index().expect("the index rebuilds");
    println!(
        "Store::rebuild_index() (what verify --fix adds): {}; {rebuilt:?}",
        ms(start.elapsed())
    );
    assert_eq!(rebuilt.cassettes, TRACES);

    // 3. With the index, every folder unchanged since.
    time_store("index:", &store, &hashes, TRACES);
    let start = Instant::now();
    let report = store.verify();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.checked(), TRACES);
    println!(
        "Store::verify(): {}; index: {}",
        ms(start.elapsed()),
        report.index
    );
    time_show("index: tracedeck (this build)", &bin, &dir, &hashes);
    time_ls("index: tracedeck (this build)", &bin, &dir, TRACES);
    time_verify("index: tracedeck (this build)", &bin, &dir);
    if let Some(baseline) = std::env::var_os("TRACEDECK_BASELINE_BIN") {
        let baseline = Path::new(&baseline);
        time_show("tracedeck (baseline)", baseline, &dir, &hashes);
        time_ls("tracedeck (baseline)", baseline, &dir, TRACES);
        time_verify("tracedeck (baseline)", baseline, &dir);
    }

    // 4. One new recording in every key since the rebuild (Store::write
    // adds entries and log lines, but every folder changed): lookups list
    // every key folder again, until the next rebuild.
    let base = base_trace();
    for k in 0..KEYS {
        let mut trace = base.clone();
        trace.spans[0].key = format!("scale/k{k:02}");
        trace.spans[0].input = Value::String(format!("turn {k}-new: release notes owner")).into();
        store.write(&trace).expect("writes");
    }
    let changed = store.verify().index;
    println!("after one write per key: {changed}");
    time_show("after writes: tracedeck", &bin, &dir, &hashes);
    time_ls("after writes: tracedeck", &bin, &dir, TRACES + KEYS);
}
