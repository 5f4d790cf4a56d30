//! Issue 14, item 3: cassettes on object storage (`ObjectStoreCassettes`),
//! on the in-memory and local-file backends, and on the real S3 API of a
//! loopback moto server when `TRACEDECK_TEST_S3_ENDPOINT` is set (`.ci/run`
//! starts one).

use crate::common::{self, TempStore};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::{StreamExt as _, TryStreamExt as _};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};
use serde_json::json;
use tracedeck::cassette::{CassetteError, ObjectStoreCassettes, Store};
use tracedeck::{Sink, Trace};

const KEYS: [&str; 4] = [
    "chat",
    "chat/fast",
    "agents/planner",
    "agents/planner/tools",
];
const WRITERS: usize = 8;
const PER_WRITER: usize = 500;
const SHARED: usize = 16;

fn trace(i: usize) -> Trace {
    common::simple_trace(KEYS[i % KEYS.len()], json!({ "object_trace": i }))
}

fn shared(i: usize) -> Trace {
    common::simple_trace(KEYS[i % KEYS.len()], json!({ "shared": i }))
}

fn backends() -> Vec<(
    &'static str,
    Arc<dyn ObjectStore>,
    Option<tempfile::TempDir>,
)> {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    vec![
        ("memory", Arc::new(InMemory::new()), None),
        ("local", Arc::new(local), Some(dir)),
    ]
}

#[tokio::test]
async fn round_trip_keeps_the_local_stores_layout_and_bytes() {
    for (name, backend, _dir) in backends() {
        let cassettes = ObjectStoreCassettes::new(Arc::clone(&backend), "team/cassettes");
        let local = TempStore::new();
        let store = Store::open(local.path()).unwrap();
        let mut written = Vec::new();
        for i in 0..8 {
            let t = trace(i);
            let stored = cassettes.write(&t).await.unwrap();
            let (hash, bytes) = store.encode(&t).unwrap();
            assert_eq!(stored.hash, hash, "{name}");
            let location = format!("team/cassettes/{}/{hash}.json", t.key());
            assert_eq!(stored.path.to_str(), Some(location.as_str()), "{name}");
            let object = backend.get(&ObjectPath::from(location)).await.unwrap();
            assert_eq!(
                object.bytes().await.unwrap().as_ref(),
                bytes.as_slice(),
                "{name}"
            );
            written.push(t);
        }
        let mut keys = KEYS.map(str::to_owned).to_vec();
        keys.sort();
        assert_eq!(cassettes.keys().await.unwrap(), keys, "{name}");
        for key in KEYS {
            let found = cassettes.traces(key).await.unwrap();
            assert!(found.errors.is_empty(), "{name}: {:?}", found.errors);
            let got: Vec<_> = found.traces.iter().map(|s| s.trace.clone()).collect();
            // The local store lists the same traces in the same (content) order.
            for t in written.iter().filter(|t| t.key() == key) {
                store.write(t).unwrap();
            }
            let want: Vec<_> = store
                .traces(key)
                .unwrap()
                .traces
                .into_iter()
                .map(|s| s.trace)
                .collect();
            assert_eq!(got, want, "{name}: {key}");
            assert_eq!(got.len(), 2, "{name}: {key}");
        }
        let report = cassettes.verify().await.unwrap();
        assert!(report.is_clean(), "{name}: {report}");
        assert_eq!(report.checked(), 8, "{name}");
    }
}

#[tokio::test]
async fn a_corrupted_object_is_a_typed_error_naming_it() {
    for (name, backend, _dir) in backends() {
        let cassettes = ObjectStoreCassettes::new(Arc::clone(&backend), "c");
        let good = cassettes.write(&trace(0)).await.unwrap();
        let bad = cassettes.write(&trace(4)).await.unwrap();
        let location = ObjectPath::from(bad.path.to_str().unwrap());
        let mut bytes = backend
            .get(&location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        let at = bytes
            .windows(12)
            .position(|w| w == b"object_trace")
            .unwrap();
        bytes[at] = b'O';
        backend
            .put(&location, PutPayload::from(bytes))
            .await
            .unwrap();

        let found = cassettes.traces("chat").await.unwrap();
        assert_eq!(found.traces.len(), 1, "{name}");
        assert_eq!(found.traces[0].hash, good.hash, "{name}");
        assert_eq!(found.errors.len(), 1, "{name}");
        assert!(
            matches!(&found.errors[0], CassetteError::HashMismatch { path, .. } if *path == bad.path),
            "{name}: {:?}",
            found.errors[0]
        );
        assert!(found.errors[0].to_string().contains(&bad.hash), "{name}");
        let report = cassettes.verify().await.unwrap();
        assert_eq!(report.checked(), 2, "{name}");
        let failing: Vec<_> = report.failing().collect();
        assert_eq!(failing.len(), 1, "{name}: {report}");
        assert_eq!(failing[0].path, bad.path, "{name}");
        assert_eq!(failing[0].key.as_deref(), Some("chat"), "{name}");
        assert!(
            matches!(
                &failing[0].problems[..],
                [CassetteError::HashMismatch { .. }]
            ),
            "{name}: {report}"
        );
    }
}

#[tokio::test]
async fn list_and_load_by_hash_prefix_match_the_local_store() {
    for (name, backend, _dir) in backends() {
        let cassettes = ObjectStoreCassettes::new(Arc::clone(&backend), "team/cassettes");
        let local = TempStore::new();
        let store = Store::open(local.path()).unwrap();
        for i in 0..8 {
            cassettes.write(&trace(i)).await.unwrap();
            store.write(&trace(i)).unwrap();
        }
        for key in KEYS {
            let listed = cassettes.list(key).await.unwrap();
            let want = store.list(key).unwrap();
            assert!(listed.errors.is_empty(), "{name}: {:?}", listed.errors);
            let got: Vec<_> = listed.files.iter().map(|f| (&f.hash, f.bytes)).collect();
            let expected: Vec<_> = want.files.iter().map(|f| (&f.hash, f.bytes)).collect();
            assert_eq!(got, expected, "{name}: {key}");
            assert!(listed.files.iter().all(|f| f.modified.is_some()), "{name}");
            for file in &listed.files {
                let loaded = cassettes
                    .load(&file.hash[..6].to_uppercase())
                    .await
                    .unwrap();
                assert_eq!(loaded.hash, file.hash, "{name}");
                assert_eq!(loaded.path, file.path, "{name}");
                assert_eq!(
                    loaded.trace,
                    store.load(&file.hash).unwrap().trace,
                    "{name}"
                );
            }
        }
        // A folder that is not a valid key holds no key.
        let stray = ObjectPath::from(format!("team/cassettes/not a key/{}.json", "d".repeat(64)));
        backend
            .put(&stray, PutPayload::from_static(b"{}"))
            .await
            .unwrap();
        let keys = cassettes.keys().await.unwrap();
        assert_eq!(keys, store.keys().unwrap(), "{name}");
        // Anything else named `*.json` in a key's folder is listed as bad.
        let odd = ObjectPath::from("team/cassettes/chat/notes.json");
        backend
            .put(&odd, PutPayload::from_static(b"{}"))
            .await
            .unwrap();
        let listed = cassettes.list("chat").await.unwrap();
        assert!(
            matches!(&listed.errors[..], [CassetteError::BadFileName { path }] if path.to_str() == Some(odd.as_ref())),
            "{name}: {:?}",
            listed.errors
        );
        assert!(matches!(
            cassettes.load(&"f".repeat(64)).await,
            Err(CassetteError::NotFound { .. })
        ));
        assert!(matches!(
            cassettes.load("xyz").await,
            Err(CassetteError::InvalidHash { .. })
        ));
        assert!(matches!(
            cassettes.list("../up").await,
            Err(CassetteError::InvalidKey { .. })
        ));
        for tail in ["0", "1"] {
            let twin = format!("team/cassettes/chat/abcd{}.json", tail.repeat(60));
            backend
                .put(&ObjectPath::from(twin), PutPayload::from_static(b"{}"))
                .await
                .unwrap();
        }
        assert!(
            matches!(cassettes.load("abcd").await, Err(CassetteError::AmbiguousHash { matches, .. }) if matches.len() == 2),
            "{name}"
        );
    }
}

#[tokio::test]
async fn verify_reports_what_the_local_stores_verify_reports() {
    for (name, backend, _dir) in backends() {
        let cassettes = ObjectStoreCassettes::new(Arc::clone(&backend), "v");
        let local = TempStore::new();
        let store = Store::open(local.path()).unwrap();
        let mut leaky = trace(1);
        leaky.spans[0].input = json!({"api_key": "sk-proj-abcdefghijklmnopqrstuvwxyz0123"}).into();
        for t in [trace(0), trace(2), leaky] {
            cassettes.write(&t).await.unwrap();
            store.write(&t).unwrap();
        }
        // A cassette outside any key folder, in both.
        let stray = cassettes.write(&trace(3)).await.unwrap();
        let top = ObjectPath::from(format!("v/{}.json", stray.hash));
        let bytes = backend
            .get(&ObjectPath::from(stray.path.to_str().unwrap()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        backend
            .put(&top, PutPayload::from(bytes.clone()))
            .await
            .unwrap();
        std::fs::write(local.path().join(format!("{}.json", stray.hash)), &bytes).unwrap();
        store.write(&trace(3)).unwrap();

        let got = cassettes.verify().await.unwrap();
        let want = store.verify();
        let summary = |r: &tracedeck::cassette::VerifyReport| -> Vec<_> {
            let mut files: Vec<_> = r
                .files
                .iter()
                .map(|f| {
                    (
                        f.key.clone(),
                        f.hash.clone(),
                        f.problems.len(),
                        f.secrets.iter().map(|s| s.kind).collect::<Vec<_>>(),
                    )
                })
                .collect();
            files.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
            files
        };
        assert_eq!(summary(&got), summary(&want), "{name}: {got}\n---\n{want}");
        assert_eq!(got.checked(), 5, "{name}");
        assert_eq!(got.failing().count(), 2, "{name}: {got}");
        assert!(
            got.failing().any(|f| f.key.is_none()
                && matches!(&f.problems[..], [CassetteError::KeyMismatch { .. }])),
            "{name}: {got}"
        );
    }
}

/// `trace` with another output: a re-recording of the same root input.
fn rerecorded(t: &Trace, output: &str) -> Trace {
    let mut t = t.clone();
    t.spans[0].output = Some(json!(output).into());
    t
}

async fn hashes(cassettes: &ObjectStoreCassettes, key: &str) -> BTreeSet<String> {
    let found = cassettes.traces(key).await.unwrap();
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    found.traces.into_iter().map(|t| t.hash).collect()
}

#[tokio::test]
async fn with_supersede_a_rerecording_replaces_the_old_cassette_of_its_root_input() {
    for (name, backend, _dir) in backends() {
        let cassettes = ObjectStoreCassettes::new(Arc::clone(&backend), "s").with_supersede(true);
        let first = cassettes.write(&trace(0)).await.unwrap();
        let other_input = cassettes.write(&trace(4)).await.unwrap();
        // The same input under another key is another recording.
        let elsewhere = cassettes
            .write(&common::simple_trace(
                "elsewhere",
                trace(0).root().input.clone().into(),
            ))
            .await
            .unwrap();
        // A handle that has never seen the old object learns its input by
        // downloading it.
        let fresh = ObjectStoreCassettes::new(Arc::clone(&backend), "s").with_supersede(true);
        let second = fresh.write(&rerecorded(&trace(0), "again")).await.unwrap();
        assert_ne!(second.hash, first.hash);
        assert_eq!(
            hashes(&cassettes, "chat").await,
            BTreeSet::from([second.hash.clone(), other_input.hash.clone()]),
            "{name}"
        );
        assert_eq!(
            hashes(&cassettes, "elsewhere").await,
            BTreeSet::from([elsewhere.hash.clone()]),
            "{name}"
        );
        // Writing the same bytes again removes nothing.
        fresh.write(&rerecorded(&trace(0), "again")).await.unwrap();
        assert_eq!(hashes(&cassettes, "chat").await.len(), 2, "{name}");

        // A damaged object is never taken for a superseded one.
        let third = rerecorded(&trace(0), "third");
        let damaged = ObjectPath::from(format!("s/chat/{}.json", "e".repeat(64)));
        backend
            .put(&damaged, PutPayload::from_static(b"{}"))
            .await
            .unwrap();
        let third = cassettes.write(&third).await.unwrap();
        let left: BTreeSet<String> = backend
            .list(Some(&ObjectPath::from("s/chat")))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            left,
            BTreeSet::from([
                damaged.to_string(),
                format!("s/chat/{}.json", third.hash),
                format!("s/chat/{}.json", other_input.hash),
            ]),
            "{name}"
        );

        // Off (the default), old recordings stay.
        let keeping = ObjectStoreCassettes::new(Arc::clone(&backend), "k");
        let a = keeping.write(&trace(0)).await.unwrap();
        let b = keeping.write(&rerecorded(&trace(0), "b")).await.unwrap();
        assert_eq!(
            hashes(&keeping, "chat").await,
            BTreeSet::from([a.hash, b.hash]),
            "{name}"
        );
    }
}

/// An in-memory backend that, the first time anything is deleted, also
/// deletes `victim`: as if another writer of the same root input were
/// superseding our new cassette at that very moment.
#[derive(Debug)]
struct RacingStore {
    inner: Arc<InMemory>,
    victim: std::sync::Mutex<Option<ObjectPath>>,
}

impl std::fmt::Display for RacingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RacingStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for RacingStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<ObjectPath>> {
        let victim = self.victim.lock().unwrap().take();
        let inner = Arc::clone(&self.inner);
        Box::pin(self.inner.delete_stream(locations).then(move |deleted| {
            let inner = Arc::clone(&inner);
            let victim = victim.clone();
            async move {
                if let Some(victim) = victim {
                    inner.delete(&victim).await?;
                }
                deleted
            }
        }))
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[tokio::test]
async fn a_writer_whose_new_cassette_a_racing_writer_deleted_puts_it_again() {
    let racing = Arc::new(RacingStore {
        inner: Arc::new(InMemory::new()),
        victim: std::sync::Mutex::new(None),
    });
    let backend: Arc<dyn ObjectStore> = racing.clone();
    // The other writer's re-recording is there first.
    let theirs = ObjectStoreCassettes::new(Arc::clone(&backend), "r")
        .write(&rerecorded(&trace(0), "theirs"))
        .await
        .unwrap();
    let ours = rerecorded(&trace(0), "ours");
    let (hash, _) = Store::open(TempStore::new().path())
        .unwrap()
        .encode(&ours)
        .unwrap();
    *racing.victim.lock().unwrap() = Some(ObjectPath::from(format!("r/chat/{hash}.json")));
    // Ours deletes theirs; at that moment theirs deletes ours.
    let written = ObjectStoreCassettes::new(Arc::clone(&backend), "r")
        .with_supersede(true)
        .write(&ours)
        .await
        .unwrap();
    assert_eq!(written.hash, hash);
    assert!(
        racing.victim.lock().unwrap().is_none(),
        "the race was staged"
    );
    let reader = ObjectStoreCassettes::new(backend, "r");
    let left = hashes(&reader, "chat").await;
    assert!(!left.contains(&theirs.hash));
    assert_eq!(left, BTreeSet::from([hash]), "ours is put again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_rerecordings_of_one_root_input_leave_at_least_one() {
    let backend: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    for round in 0..20 {
        let prefix = format!("race{round}");
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let cassettes =
                    ObjectStoreCassettes::new(Arc::clone(&backend), &prefix).with_supersede(true);
                tokio::spawn(async move {
                    cassettes
                        .write(&rerecorded(&trace(0), &format!("writer {w}")))
                        .await
                        .unwrap()
                        .hash
                })
            })
            .collect();
        let mut written = BTreeSet::new();
        for writer in writers {
            written.insert(writer.await.unwrap());
        }
        let reader = ObjectStoreCassettes::new(Arc::clone(&backend), &prefix);
        let left = hashes(&reader, "chat").await;
        assert!(!left.is_empty(), "round {round}: every re-recording lost");
        assert!(left.is_subset(&written), "round {round}");
    }
}

#[tokio::test]
async fn writing_an_identical_trace_again_succeeds_without_overwriting() {
    let backend = Arc::new(InMemory::new());
    let cassettes = ObjectStoreCassettes::new(backend.clone(), "");
    let first = cassettes.write(&trace(1)).await.unwrap();
    let location = ObjectPath::from(first.path.to_str().unwrap());
    // The in-memory backend gives every put a new e-tag.
    let tag = backend.head(&location).await.unwrap().e_tag;
    let again = cassettes.write(&trace(1)).await.unwrap();
    assert_eq!(again.hash, first.hash);
    assert_eq!(backend.head(&location).await.unwrap().e_tag, tag);
    assert_eq!(cassettes.traces("chat/fast").await.unwrap().traces.len(), 1);
    assert_eq!(cassettes.keys().await.unwrap(), ["chat/fast"]);
}

#[tokio::test]
async fn an_invalid_trace_is_refused_before_any_put() {
    let backend = Arc::new(InMemory::new());
    let cassettes = ObjectStoreCassettes::new(backend.clone(), "");
    let bad = common::simple_trace("../escape", json!(1));
    assert!(matches!(
        cassettes.write(&bad).await,
        Err(CassetteError::InvalidKey { .. })
    ));
    assert!(cassettes.keys().await.unwrap().is_empty());
}

/// Every object under the backend's root, with its e-tag.
async fn tags(backend: &dyn ObjectStore) -> BTreeMap<String, Option<String>> {
    let all: Vec<_> = backend.list(None).try_collect().await.unwrap();
    all.into_iter()
        .map(|m| (m.location.to_string(), m.e_tag))
        .collect()
}

/// 8 concurrent writers x 500 traces each, every writer also writing the
/// same shared traces; then all of them again. Checks 0 lost (every trace
/// loads back), 0 overwritten (e-tags unchanged by the second round), and
/// `verify` clean.
async fn concurrent_writers(cassettes: &ObjectStoreCassettes, overwrite_check: bool) {
    let round = || async {
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..WRITERS {
            let cassettes = cassettes.clone();
            tasks.spawn(async move {
                for i in 0..PER_WRITER {
                    cassettes.write(&trace(w * PER_WRITER + i)).await.unwrap();
                    if i < SHARED {
                        cassettes.write(&shared(i)).await.unwrap();
                    }
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    };
    round().await;
    let before = tags(cassettes.object_store().as_ref()).await;
    assert_eq!(before.len(), WRITERS * PER_WRITER + SHARED);

    let mut inputs = BTreeSet::new();
    for key in cassettes.keys().await.unwrap() {
        let found = cassettes.traces(&key).await.unwrap();
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        inputs.extend(
            found
                .traces
                .into_iter()
                .map(|s| s.trace.root().input.to_string()),
        );
    }
    let expected: BTreeSet<_> = (0..WRITERS * PER_WRITER)
        .map(|i| trace(i).root().input.to_string())
        .chain((0..SHARED).map(|i| shared(i).root().input.to_string()))
        .collect();
    assert_eq!(inputs, expected, "lost traces");
    let report = cassettes.verify().await.unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.checked(), WRITERS * PER_WRITER + SHARED);

    if overwrite_check {
        round().await;
        assert_eq!(
            tags(cassettes.object_store().as_ref()).await,
            before,
            "overwritten objects"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_writers_lose_and_overwrite_nothing_in_memory() {
    let cassettes = ObjectStoreCassettes::new(Arc::new(InMemory::new()), "ci");
    concurrent_writers(&cassettes, true).await;
}

#[test]
fn the_sink_writes_from_its_own_thread_and_flush_reports_losses() {
    let backend = Arc::new(InMemory::new());
    let cassettes = ObjectStoreCassettes::new(backend, "sunk");
    let sink = cassettes.sink_with_capacity(4).unwrap();
    for i in 0..40 {
        loop {
            // A full queue refuses: wait for the writer, then try again.
            match sink.accept(Arc::new(trace(i))) {
                Ok(()) => break,
                Err(_) => assert!(sink.flush_blocking().is_empty()),
            }
        }
    }
    assert!(sink.flush_blocking().is_empty());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(cassettes.verify()).unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.checked(), 40);
    // A trace that cannot be written is refused on the caller's thread.
    assert!(
        sink.accept(Arc::new(common::simple_trace("", json!(1))))
            .is_err()
    );
    // Dropping the sink (and its runtime) inside async code must not panic.
    rt.block_on(async move { drop(sink) });
}

/// The real S3 API, over loopback: `.ci/run` starts moto's server and sets
/// `TRACEDECK_TEST_S3_ENDPOINT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_writers_on_s3_lose_and_overwrite_nothing() {
    let Ok(endpoint) = std::env::var("TRACEDECK_TEST_S3_ENDPOINT") else {
        println!(
            "skipped: TRACEDECK_TEST_S3_ENDPOINT is not set (.ci/run starts moto_server and sets it)"
        );
        return;
    };
    // object_store's HTTP client is on rustls without a default provider
    // (see Cargo.toml): use ring. Fails only if another test installed one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bucket = format!("tracedeck-{}", std::process::id());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_bucket_name(&bucket)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let s3: Arc<dyn ObjectStore> = Arc::new(s3);
    let cassettes = ObjectStoreCassettes::new(Arc::clone(&s3), "ci/cassettes");
    concurrent_writers(&cassettes, false).await;

    // The server honours put-if-absent: a different body under an existing
    // name is refused, so no writer can overwrite another's cassette.
    let some = cassettes.traces("chat").await.unwrap().traces.remove(0);
    let location = ObjectPath::from(some.path.to_str().unwrap());
    let create = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    let refused = s3
        .put_opts(&location, PutPayload::from_static(b"{}"), create)
        .await;
    assert!(
        matches!(refused, Err(object_store::Error::AlreadyExists { .. })),
        "{refused:?}"
    );
    let report = cassettes.verify().await.unwrap();
    assert!(report.is_clean(), "{report}");
}

#[test]
fn a_session_recorded_through_the_sink_replays_from_the_object_store() {
    use tracedeck::{Model, ModelRequest, Player, Recorder, Script, ScriptedModel, with_span};
    let cassettes = ObjectStoreCassettes::new(Arc::new(InMemory::new()), "replay");
    let model = Recorder::new(
        ScriptedModel::new(Script::text("Paris")),
        cassettes.sink().unwrap(),
    );
    let ask = || ModelRequest::new("m").user("Capital of France?");
    tracedeck::testing::run_paused(async {
        with_span("capital", "France", async { model.generate(ask()).await })
            .await
            .unwrap();
        assert!(model.flush().await.is_clean());
        let player = Player::from_object_store(&cassettes, "capital")
            .await
            .unwrap();
        assert_eq!(player.generate(ask()).await.unwrap().text, "Paris");
        // An empty key replays nothing, and an invalid key is a typed error.
        let empty = Player::from_object_store(&cassettes, "nothing")
            .await
            .unwrap();
        assert!(empty.generate(ask()).await.is_err());
        assert!(Player::from_object_store(&cassettes, "../x").await.is_err());
    });
}

/// A replay from a bucket writes nothing on the local disk: the usage ledger
/// is a local store's, and the bucket's prefix is no local folder (it used
/// to be taken for one, relative to the working directory).
#[test]
fn a_replay_from_the_object_store_writes_no_ledger_on_the_local_disk() {
    use tracedeck::{Model, ModelRequest, Player, Recorder, Script, ScriptedModel, with_span};
    let prefix = format!("ledger-probe-{}", std::process::id());
    let cassettes = ObjectStoreCassettes::new(Arc::new(InMemory::new()), prefix.as_str());
    let model = Recorder::new(
        ScriptedModel::new(Script::text("Paris")),
        cassettes.sink().unwrap(),
    );
    let ask = || ModelRequest::new("m").user("Capital of France?");
    tracedeck::testing::run_paused(async {
        with_span("capital", "France", async { model.generate(ask()).await })
            .await
            .unwrap();
        assert!(model.flush().await.is_clean());
        let player = Player::from_object_store(&cassettes, "capital")
            .await
            .unwrap();
        assert_eq!(player.generate(ask()).await.unwrap().text, "Paris");
    });
    let local = std::path::Path::new(&prefix);
    let wrote = local.exists();
    let _ = std::fs::remove_dir_all(local);
    assert!(
        !wrote,
        "a replay from object storage created `{prefix}` on the local disk"
    );
}
