//! The `tracedeck` binary with `--dir` an object-store URL (feature
//! `object-store`): the committed example cassettes read through
//! `file://` (object_store's local-folder backend) give the same answers as
//! the same folder read as a local store, corruption included; and, when
//! `TRACEDECK_TEST_S3_ENDPOINT` names a moto server (`.ci/run` starts one),
//! cassettes written to S3 through the library list, show and verify
//! through `--dir s3://bucket/prefix` with the endpoint and credentials
//! from the environment.

#![cfg(feature = "object-store")]

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::Value;
use tracedeck::cassette::{ObjectStoreCassettes, Store};

/// The committed example store, relative to the repository root.
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

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ lies inside the repository")
}

/// Runs `tracedeck --dir DIR ARGS` with `env` set and every other `AWS_*`
/// variable of this process removed; expects exit status `code`.
fn tracedeck(dir: &str, args: &[&str], env: &[(&str, &str)], code: i32) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tracedeck"));
    command
        .arg("--dir")
        .arg(dir)
        .args(args)
        .current_dir(root())
        .env_remove("TRACEDECK_DIR");
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("run tracedeck");
    let run = Run {
        code: status.code().expect("exited normally, not by a signal"),
        stdout: String::from_utf8(stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(stderr).expect("UTF-8 stderr"),
    };
    assert_eq!(
        run.code, code,
        "tracedeck --dir {dir} {args:?}\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// A copy of the example store in a temporary folder, without the usage
/// ledger of test runs.
fn copy_of_examples() -> (tempfile::TempDir, PathBuf) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name() == tracedeck::cassette::LEDGER_ROOT {
                continue;
            }
            let target = to.join(entry.file_name());
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
    (tmp, dir.canonicalize().unwrap())
}

/// `ls --json` less the times, which are each source's own.
fn listing(run: &Run) -> Vec<(String, u64, u64, usize)> {
    json(&run.stdout)
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["key"].as_str().unwrap().to_owned(),
                k["traces"].as_u64().unwrap(),
                k["bytes"].as_u64().unwrap(),
                k["unreadable"].as_array().unwrap().len(),
            )
        })
        .collect()
}

/// `verify --json`'s files as (path below the store, ok, problems, secrets).
fn verified(run: &Run, store: &str) -> Vec<(String, bool, usize, usize)> {
    let report = json(&run.stdout);
    let mut files: Vec<_> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap();
            (
                path.strip_prefix(store)
                    .unwrap_or_else(|| panic!("{path} lies in {store}"))
                    .to_owned(),
                f["ok"].as_bool().unwrap(),
                f["problems"].as_array().unwrap().len(),
                f["secrets"].as_array().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_file_url_reads_as_the_same_folder_does() {
    let (_tmp, dir) = copy_of_examples();
    let local = dir.to_str().unwrap().to_owned();
    let url = url::Url::from_directory_path(&dir).unwrap().to_string();
    let url = url.trim_end_matches('/');
    // The remote side names objects by URL; the local side by path.
    let as_local = |text: &str| text.replace(url, &local);

    let (l, r) = (
        tracedeck(&local, &["ls", "--json"], &[], 0),
        tracedeck(url, &["ls", "--json"], &[], 0),
    );
    assert_eq!(listing(&r), listing(&l));
    assert_eq!(
        listing(&r)
            .iter()
            .map(|(k, t, _, bad)| (k.as_str(), *t, *bad))
            .collect::<Vec<_>>(),
        [
            ("chat-turn", 3, 0),
            ("summarize", 1, 0),
            ("support/triage", 2, 0)
        ]
    );
    let table = tracedeck(url, &["ls"], &[], 0);
    assert!(
        table
            .stdout
            .contains(&format!("3 keys · 6 traces · 43.7 KiB in {url}\n")),
        "{}",
        table.stdout
    );

    for target in ["chat-turn", "support/triage", &WEATHER[..8], WEATHER] {
        let (l, r) = (
            tracedeck(&local, &["show", target, "--parts"], &[], 0),
            tracedeck(url, &["show", target, "--parts"], &[], 0),
        );
        assert_eq!(as_local(&r.stdout), l.stdout, "show {target}");
        assert!(r.stdout.contains(&format!("file   {url}/")), "{}", r.stdout);
    }
    let shown = json(&tracedeck(url, &["show", "support/triage", "--json"], &[], 0).stdout);
    let hashes: Vec<&str> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["hash"].as_str().unwrap())
        .collect();
    assert_eq!(hashes.len(), 2);
    assert!(hashes.contains(&TRIAGE_ADA) && hashes.contains(&TRIAGE_SAM));

    for args in [
        &["stats", "--json"][..],
        &["diff", TRIAGE_SAM, TRIAGE_ADA],
        &["timeline", &WEATHER[..6]],
    ] {
        let code = if args[0] == "diff" { 1 } else { 0 };
        let (l, r) = (
            tracedeck(&local, args, &[], code),
            tracedeck(url, args, &[], code),
        );
        assert_eq!(r.stdout, l.stdout, "{args:?}");
    }

    let (l, r) = (
        tracedeck(&local, &["verify"], &[], 0),
        tracedeck(url, &["verify"], &[], 0),
    );
    assert_eq!(as_local(&r.stdout), l.stdout);
    assert_eq!(
        r.stdout,
        format!("6 cassettes checked in {url}: 6 ok\n"),
        "{}",
        r.stderr
    );
    let fixed = tracedeck(url, &["verify", "--fix"], &[], 0);
    assert!(
        fixed.stdout.starts_with(
            "--fix: 0 temporary files removed (object storage holds none: an object is written whole or not at all)\n"
        ),
        "{}",
        fixed.stdout
    );

    let missing = tracedeck(url, &["show", "chat-trun"], &[], 2);
    assert!(
        missing
            .stderr
            .contains(&format!("in `{url}`: did you mean `chat-turn`?")),
        "{}",
        missing.stderr
    );
    let prune = tracedeck(url, &["prune"], &[], 2);
    assert!(
        prune.stderr.starts_with(&format!(
            "error: `tracedeck prune` does not work on object storage (`{url}`)"
        )),
        "{}",
        prune.stderr
    );
    let proxy = tracedeck(url, &["proxy", "--mode", "replay"], &[], 2);
    assert!(
        proxy.stderr.starts_with(&format!(
            "error: `tracedeck proxy` does not work on object storage (`{url}`)"
        )),
        "{}",
        proxy.stderr
    );
}

#[test]
fn verify_over_a_file_url_catches_a_corrupted_object_as_the_folder_does() {
    let (_tmp, dir) = copy_of_examples();
    let local = dir.to_str().unwrap().to_owned();
    let url = url::Url::from_directory_path(&dir).unwrap().to_string();
    let url = url.trim_end_matches('/');
    let bad = dir.join("chat-turn").join(format!("{WEATHER}.json"));
    let mut bytes = std::fs::read(&bad).unwrap();
    let at = bytes.windows(5).position(|w| w == b"Paris").unwrap();
    bytes[at] = b'p';
    std::fs::write(&bad, bytes).unwrap();

    let (l, r) = (
        tracedeck(&local, &["verify", "--json"], &[], 1),
        tracedeck(url, &["verify", "--json"], &[], 1),
    );
    let got = verified(&r, url);
    assert_eq!(got, verified(&l, &local));
    let failing: Vec<_> = got.iter().filter(|f| !f.1).collect();
    assert_eq!(
        failing,
        [&(format!("/chat-turn/{WEATHER}.json"), false, 1, 0)]
    );
    let text = tracedeck(url, &["verify"], &[], 1);
    assert!(
        text.stdout
            .contains(&format!("FAIL {url}/chat-turn/{WEATHER}.json\n  problem: ")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(&format!(
            "6 cassettes checked in {url}: 5 ok, 1 with problems\n"
        )),
        "{}",
        text.stdout
    );
    // `show` of the key still shows the good ones, and names the bad one.
    let shown = tracedeck(url, &["show", "chat-turn"], &[], 0);
    assert!(
        shown.stdout.starts_with("chat-turn · 2 traces\n"),
        "{}",
        shown.stdout
    );
    assert!(shown.stderr.contains(WEATHER), "{}", shown.stderr);
}

#[test]
fn urls_the_binary_cannot_open_say_why() {
    let memory = tracedeck("memory:///cassettes", &["ls"], &[], 2);
    assert!(
        memory
            .stderr
            .contains("memory:// is a store inside one process"),
        "{}",
        memory.stderr
    );
    let unknown = tracedeck("ftp://host/cassettes", &["ls"], &[], 2);
    assert!(
        unknown.stderr.contains("use s3://bucket/prefix"),
        "{}",
        unknown.stderr
    );
}

/// Creates `bucket` on the S3 server at `endpoint` (`http://host:port`)
/// with one plain HTTP/1.1 request: `PUT /bucket`.
fn create_bucket(endpoint: &str, bucket: &str) {
    let host = endpoint
        .strip_prefix("http://")
        .expect("the moto endpoint is http://host:port")
        .trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("connect to moto");
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "create bucket {bucket}: {response}"
    );
}

/// The real S3 API over loopback: `.ci/run` starts moto's server and sets
/// `TRACEDECK_TEST_S3_ENDPOINT`.
#[test]
fn an_s3_url_lists_shows_and_verifies_cassettes_written_by_the_library() {
    let Ok(endpoint) = std::env::var("TRACEDECK_TEST_S3_ENDPOINT") else {
        println!(
            "skipped: TRACEDECK_TEST_S3_ENDPOINT is not set (.ci/run starts moto_server and sets it)"
        );
        return;
    };
    let bucket = format!("tracedeck-cli-{}", std::process::id());
    create_bucket(&endpoint, &bucket);

    // Write the example cassettes to the bucket through the library.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_bucket_name(&bucket)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let cassettes = ObjectStoreCassettes::new(Arc::new(s3), "ci/cassettes");
    let examples = Store::open_existing(root().join(EXAMPLES)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for key in examples.keys().unwrap() {
        for stored in examples.traces(&key).unwrap().traces {
            let written = runtime.block_on(cassettes.write(&stored.trace)).unwrap();
            assert_eq!(written.hash, stored.hash, "the same bytes on S3");
        }
    }

    let url = format!("s3://{bucket}/ci/cassettes");
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let local = root().join(EXAMPLES);
    let local = local.to_str().unwrap();

    let listed = tracedeck(&url, &["ls", "--json"], &env, 0);
    assert_eq!(
        listing(&listed),
        listing(&tracedeck(local, &["ls", "--json"], &[], 0))
    );
    let table = tracedeck(&url, &["ls"], &env, 0);
    assert!(
        table
            .stdout
            .contains(&format!("3 keys · 6 traces · 43.7 KiB in {url}\n")),
        "{}",
        table.stdout
    );

    for target in ["chat-turn", &WEATHER[..8]] {
        let remote = tracedeck(&url, &["show", target, "--parts"], &env, 0);
        let here = tracedeck(local, &["show", target, "--parts"], &[], 0);
        assert_eq!(
            remote.stdout.replace(&url, local),
            here.stdout,
            "show {target}"
        );
    }
    assert!(
        tracedeck(&url, &["show", WEATHER], &env, 0)
            .stdout
            .contains(&format!("file   {url}/chat-turn/{WEATHER}.json\n"))
    );

    let verify = tracedeck(&url, &["verify"], &env, 0);
    assert_eq!(
        verify.stdout,
        format!("6 cassettes checked in {url}: 6 ok\n")
    );

    // An object overwritten behind the library's back is caught.
    use object_store::ObjectStoreExt as _;
    let location = object_store::path::Path::from(format!("ci/cassettes/chat-turn/{WEATHER}.json"));
    runtime
        .block_on(
            cassettes
                .object_store()
                .put(&location, object_store::PutPayload::from_static(b"{}")),
        )
        .unwrap();
    let broken = tracedeck(&url, &["verify"], &env, 1);
    assert!(
        broken
            .stdout
            .contains(&format!("FAIL {url}/chat-turn/{WEATHER}.json\n")),
        "{}",
        broken.stdout
    );
}
