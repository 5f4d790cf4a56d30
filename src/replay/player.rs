use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::{self, BoxFuture};
use serde_json::Value;
use tokio::time::Instant;

use super::miss::{Miss, MissReason, PlaybackApi};
use super::playback::Playback;
use super::request_matcher::RequestMatcher;
use super::tree_diff::span_paths;
use super::{PlaybackOptions, ReplayError, Speed};
use crate::cassette::{Redaction, Store, StoredTrace, UsageLedger};
use crate::model::{
    CallNote, Model, ModelError, ModelInfo, ModelRequest, ModelResponse, PartStream,
};
use crate::span::{Span, SpanId, SpanKind, Trace};

/// A [`Model`] that answers every call from recorded `llm` spans.
///
/// A call is matched to a recording by the sha256 of its canonical request,
/// after the store's [`Redaction`] and the paths you
/// [ignore](PlaybackOptions::ignore_path). Identical requests are served in recorded
/// order (traces in the order given, calls in start order); asking more often
/// than recorded is a miss unless [`allow_repeats`](PlaybackOptions::allow_repeats).
/// A miss fails with [`ModelError::CassetteMiss`], whose detail shows how the
/// request differs from the closest recorded one and what to do next.
///
/// A stream opens at its recorded `opened` offset from the call, yields every
/// recorded part at its recorded offset (with `tokio::time::sleep_until`,
/// so a paused test clock makes this instant and exact; tokio's timers tick
/// in whole milliseconds, so sub-millisecond offsets come rounded up, never
/// early), then ends at the recorded end, with the recorded error if it
/// failed. `generate` answers after the recorded duration. [`Speed`] changes
/// the pace for runs on the real clock. All of these are
/// [`PlaybackOptions`], set with [`with_options`](Player::with_options) or
/// the methods of the same names here.
///
/// A player over cassettes read from a [`Store`] (by
/// [`from_store`](Player::from_store), [`from_whole_store`](Player::from_whole_store)
/// or [`from_files`](Player::from_files)) notes each cassette the first time
/// it serves a call from it in the store's
/// [`UsageLedger`], so `tracedeck prune` can find the cassettes no test uses
/// (best effort: a ledger that cannot be written never fails a call).
///
/// Clones share what has been served, so one `Player` can serve many
/// concurrent tasks; wrap it in a [`Recorder`](crate::Recorder) to record the
/// replay.
///
/// ```
/// use tracedeck::{Collector, Model, ModelRequest, Player, Recorder, Script, ScriptedModel, with_span};
/// # tracedeck::testing::run_paused(async {
/// // Record one call...
/// let recorded = Collector::new();
/// let live = Recorder::new(ScriptedModel::new(Script::text("Paris")), recorded.clone());
/// let ask = |model: &dyn Model| model.generate(ModelRequest::new("m").user("Capital of France?"));
/// with_span("capital", "France", async { ask(&live).await }).await.unwrap();
///
/// // ...and replay it without the live model.
/// let player = Player::from_traces("capital", recorded.traces());
/// assert_eq!(ask(&player).await.unwrap().text, "Paris");
///
/// // A request that was never recorded is a miss that says what changed.
/// let err = player.generate(ModelRequest::new("m").user("Capital of Spain?")).await.unwrap_err();
/// assert!(err.to_string().contains(r#""Capital of France?" → "Capital of Spain?""#));
/// # });
/// ```
#[derive(Clone)]
pub struct Player {
    key: Arc<str>,
    traces: Arc<Vec<Recording>>,
    /// The redaction the recordings were written with (the store's).
    source_redaction: Redaction,
    options: PlaybackOptions,
    /// Built from `options` and `source_redaction`.
    matcher: RequestMatcher,
    catalog: Arc<Catalog>,
    served: Arc<Mutex<Vec<bool>>>,
    scope: Option<usize>,
    info: ModelInfo,
    /// Whether a served call's span (in a recorder around the player) takes
    /// the recorded call's key and model.
    label_calls: bool,
    /// Whether it serves every key of a store (misses then name the key of
    /// the recording they are about).
    whole_store: bool,
    /// The API playing back, named in misses.
    api: PlaybackApi,
    /// Set when the key it was built for has no cassette in its store: the
    /// store's other keys, so a miss can name the ones nearby (a typo).
    absent_key: Option<Arc<AbsentKey>>,
}

/// A key with nothing recorded under it, and what its store holds instead.
#[derive(Debug)]
pub(crate) struct AbsentKey {
    /// The store's folder.
    pub(crate) dir: std::path::PathBuf,
    /// Every key with a cassette in the store, sorted.
    pub(crate) store_keys: Vec<String>,
}

/// One recorded trace and where it came from (for messages).
///
/// The trace is shared, never copied: the catalog's calls point into it
/// ([`SpanRef`]) and each replay's report keeps it as its `recorded` trace.
pub(crate) struct Recording {
    pub(crate) origin: String,
    pub(crate) trace: Arc<Trace>,
    /// The store file it was read from, noted in the store's usage ledger
    /// the first time it serves; `None` for traces not read from a store.
    pub(crate) cassette: Option<LedgerEntry>,
}

/// A cassette file as the usage ledger notes it.
pub(crate) struct LedgerEntry {
    ledger: UsageLedger,
    hash: String,
    /// Whether this recording has already been noted (or tried to be).
    noted: AtomicBool,
}

impl Recording {
    /// A trace not read from a store, named `origin` in messages.
    pub(crate) fn unstored(origin: String, trace: impl Into<Arc<Trace>>) -> Self {
        Self {
            origin,
            trace: trace.into(),
            cassette: None,
        }
    }

    /// Notes in the store's usage ledger that this recording served (once
    /// per recording; the ledger also writes each cassette once per
    /// process). Never fails: the ledger counts its own failures.
    pub(crate) fn note_used(&self) {
        if let Some(entry) = &self.cassette {
            if !entry.noted.swap(true, Ordering::Relaxed) {
                entry.ledger.note(self.trace.key(), &entry.hash);
            }
        }
    }
}

/// Every recorded `llm` span, with its playback hash.
#[derive(Default)]
pub(crate) struct Catalog {
    pub(crate) calls: Vec<RecordedCall>,
    by_hash: HashMap<String, Vec<usize>>,
}

/// One recorded `llm` span as playback sees it.
pub(crate) struct RecordedCall {
    /// The index of its trace in the player's traces.
    pub(crate) trace: usize,
    /// `<trace origin>, span #<id>`.
    pub(crate) origin: Arc<str>,
    /// Its path in its trace's span tree, e.g. `turn > llm[1]`.
    pub(crate) path: String,
    pub(crate) span: SpanRef,
}

/// One span of a shared recorded trace: what the catalog and a playback
/// hold instead of a copy of the span. Dereferences to the [`Span`].
#[derive(Clone)]
pub(crate) struct SpanRef {
    trace: Arc<Trace>,
    index: usize,
}

impl std::ops::Deref for SpanRef {
    type Target = Span;

    fn deref(&self) -> &Span {
        &self.trace.spans[self.index]
    }
}

/// Whether a call asks for a stream or a whole answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    Generate,
    Stream,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player")
            .field("key", &self.key)
            .field("traces", &self.traces.len())
            .field("calls", &self.catalog.calls.len())
            .field("scope", &self.scope)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Player {
    /// A player serving the `llm` spans of `traces` (from a
    /// [`Collector`](crate::Collector), say), in the order given; `key` names
    /// them in errors (usually the traces' key).
    pub fn from_traces(key: impl Into<String>, traces: impl IntoIterator<Item = Trace>) -> Self {
        let recordings = traces
            .into_iter()
            .enumerate()
            .map(|(i, trace)| Recording::unstored(format!("trace {i}"), trace))
            .collect();
        Self::from_recordings(key.into(), recordings, Redaction::default())
    }

    /// A player serving cassette files already loaded (from
    /// [`Store::traces`], say), named by their files in errors. Unlike
    /// [`from_store`](Player::from_store), no redaction is applied to live
    /// requests unless set with [`with_redaction`](Player::with_redaction).
    pub fn from_files(
        key: impl Into<String>,
        traces: impl IntoIterator<Item = StoredTrace>,
    ) -> Self {
        let recordings = traces.into_iter().map(Recording::from).collect();
        Self::from_recordings(key.into(), recordings, Redaction::default())
    }

    /// [`from_files`](Self::from_files) for traces that are not files on
    /// this machine (objects in a bucket): no usage ledger notes what they
    /// serve, since the ledger is a local store's folder and an object's
    /// path names none.
    #[cfg(feature = "object-store")]
    pub(crate) fn from_remote_files(
        key: impl Into<String>,
        traces: impl IntoIterator<Item = StoredTrace>,
    ) -> Self {
        let recordings = traces.into_iter().map(Recording::unledgered).collect();
        Self::from_recordings(key.into(), recordings, Redaction::default())
    }

    /// A player serving every trace recorded under `key` in `store`, with the
    /// store's redaction applied to live requests before they are matched.
    ///
    /// # Errors
    /// [`ReplayError::Cassette`] for an invalid key, an unreadable folder or
    /// any file under the key that fails to load (a test must not pass on
    /// half a cassette).
    pub fn from_store(store: &Store, key: &str) -> Result<Self, ReplayError> {
        let loaded = store.traces(key)?;
        if let Some(err) = loaded.errors.into_iter().next() {
            return Err(err.into());
        }
        let absent_key = loaded.traces.is_empty().then(|| {
            Arc::new(AbsentKey {
                dir: store.dir().to_path_buf(),
                // Only to suggest keys in a miss: an unreadable store suggests none.
                store_keys: store.keys().unwrap_or_default(),
            })
        });
        let recordings = loaded.traces.into_iter().map(Recording::from).collect();
        let mut player =
            Self::from_recordings(key.to_owned(), recordings, store.redaction().clone());
        player.absent_key = absent_key;
        Ok(player)
    }

    /// A player serving every trace of every key in `store`. Its
    /// [`key`](Player::key) is `*`; a miss names the key of the recording it
    /// is about (the closest one) and lists the keys searched. Keys are taken
    /// in sorted order, each key's traces in content order (see
    /// [`Store::traces`]).
    ///
    /// # Errors
    /// As [`from_store`](Player::from_store), for any key.
    pub fn from_whole_store(store: &Store) -> Result<Self, ReplayError> {
        let mut recordings = Vec::new();
        for key in store.keys()? {
            let loaded = store.traces(&key)?;
            if let Some(err) = loaded.errors.into_iter().next() {
                return Err(err.into());
            }
            recordings.extend(loaded.traces.into_iter().map(Recording::from));
        }
        let mut player =
            Self::from_recordings("*".to_owned(), recordings, store.redaction().clone());
        player.whole_store = true;
        Ok(player)
    }

    pub(crate) fn from_recordings(
        key: String,
        traces: Vec<Recording>,
        source_redaction: Redaction,
    ) -> Self {
        let options = PlaybackOptions::default();
        let matcher = options.matcher(&source_redaction);
        let info = traces
            .iter()
            .flat_map(|r| r.trace.llm_spans())
            .find_map(|s| s.model.clone())
            .unwrap_or_else(|| ModelInfo::new("replay", key.clone()));
        let traces = Arc::new(traces);
        let catalog = Arc::new(Catalog::build(&traces, &matcher));
        Self {
            key: Arc::from(key),
            served: Arc::new(Mutex::new(vec![false; catalog.calls.len()])),
            traces,
            source_redaction,
            options,
            matcher,
            catalog,
            scope: None,
            info,
            label_calls: false,
            whole_store: false,
            api: PlaybackApi::Player,
            absent_key: None,
        }
    }

    /// Plays back with `options` instead of the ones set so far.
    ///
    /// Resets what has been served.
    pub fn with_options(mut self, options: PlaybackOptions) -> Self {
        self.options = options;
        self.reindexed()
    }

    /// The options this player plays back with.
    pub fn options(&self) -> &PlaybackOptions {
        &self.options
    }

    /// Leaves the value at `pointer` out when matching requests; see
    /// [`PlaybackOptions::ignore_path`].
    ///
    /// Resets what has been served.
    ///
    /// # Errors
    /// [`ReplayError::InvalidIgnoredPath`] for a malformed pointer.
    pub fn ignore_path(self, pointer: &str) -> Result<Self, ReplayError> {
        let options = self.options.clone().ignore_path(pointer)?;
        Ok(self.with_options(options))
    }

    /// Redacts live requests with `redaction` before matching them (a player
    /// [`from_store`](Player::from_store) already uses the store's); see
    /// [`PlaybackOptions::redaction`].
    ///
    /// Resets what has been served.
    pub fn with_redaction(self, redaction: Redaction) -> Self {
        let options = self.options.clone().redaction(redaction);
        self.with_options(options)
    }

    /// Serves the last recording of a request again once every recording of
    /// it has been served, instead of failing; see
    /// [`PlaybackOptions::allow_repeats`].
    pub fn allow_repeats(mut self) -> Self {
        self.options = self.options.allow_repeats();
        self
    }

    /// Sets the pace of playback (default: as recorded); see
    /// [`PlaybackOptions::speed`].
    pub fn speed(mut self, speed: Speed) -> Self {
        self.options = self.options.speed(speed);
        self
    }

    /// Reports `info` from [`Model::info`] (default: the model of the first
    /// recorded call, so a replay recorded through a
    /// [`Recorder`](crate::Recorder) names the same model as the recording).
    pub fn with_info(mut self, info: ModelInfo) -> Self {
        self.info = info;
        self
    }

    /// Has a [`Recorder`](crate::Recorder) around this player record each
    /// served call under the key and model of the recorded call it replays,
    /// so a trace recorded through several recorders replays to the same tree.
    pub(crate) fn labelling_calls(mut self) -> Self {
        self.label_calls = true;
        self
    }

    /// Names `api` in misses as the API playing back.
    pub(crate) fn played_by(mut self, api: PlaybackApi) -> Self {
        self.api = api;
        self
    }

    pub(crate) fn api(&self) -> PlaybackApi {
        self.api
    }

    /// The store's keys when the key it serves has no cassette there.
    pub(crate) fn absent_key(&self) -> Option<&AbsentKey> {
        self.absent_key.as_deref()
    }

    pub(crate) fn is_whole_store(&self) -> bool {
        self.whole_store
    }

    /// The distinct keys of the recorded traces, sorted.
    pub(crate) fn recorded_keys(&self) -> Vec<String> {
        let keys: std::collections::BTreeSet<&str> =
            self.traces.iter().map(|r| r.trace.key()).collect();
        keys.into_iter().map(str::to_owned).collect()
    }

    /// The note for a recorder around this player about a call served by
    /// `playback`: replayed, and (when this player labels calls) recorded
    /// under the key and model of the span it is served from.
    fn note(&self, playback: &Playback) -> CallNote {
        let note = CallNote::replayed();
        if !self.label_calls {
            return note;
        }
        let note = note.key(playback.span.key.clone());
        match &playback.span.model {
            Some(model) => note.model(model.clone()),
            None => note,
        }
    }

    /// The key it serves: the key given, or `*` for a player over a whole
    /// store ([`from_whole_store`](Player::from_whole_store)).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// How many recorded calls this player can serve.
    pub fn len(&self) -> usize {
        self.scoped_calls().count()
    }

    /// Whether it has no recorded call at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many recorded calls have not been served yet.
    pub fn remaining(&self) -> usize {
        let served = self.lock_served();
        self.scoped_calls().filter(|(i, _)| !served[*i]).count()
    }

    /// The recorded calls in this player's scope that have not been served,
    /// in recorded order, each as `<span path> (<where>): "<last user text>"`,
    /// e.g. `turn > llm[1] (trace 0, span #2): "double-check …"`.
    ///
    /// After a run, these are the calls the code no longer makes; a replay
    /// run fails on them with
    /// [`PlaybackOptions::fail_on_unused_calls`].
    pub fn unused_calls(&self) -> Vec<String> {
        let served = self.lock_served();
        self.scoped_calls()
            .filter(|(i, _)| !served[*i])
            .map(|(_, call)| call.describe())
            .collect()
    }

    /// Finds the recorded call that answers `request`, marks it served (as
    /// [`stream`](Model::stream) or [`generate`](Model::generate) would) and
    /// gives its recorded span, for serving the recording in another shape
    /// than parts: the `tracedeck proxy` encodes it into its wire protocol
    /// with [`WireProtocol::encode_call`](crate::providers::codec::WireProtocol::encode_call)
    /// and times it itself. `stream` says whether the caller asks for a
    /// stream (a whole answer can be served from a recorded stream, not the
    /// other way round).
    ///
    /// ```
    /// use tracedeck::{Collector, Model, ModelRequest, Player, Recorder, Script, ScriptedModel, with_span};
    /// # tracedeck::testing::run_paused(async {
    /// let traces = Collector::new();
    /// let model = Recorder::new(ScriptedModel::new(Script::text("Paris")), traces.clone());
    /// let ask = || ModelRequest::new("m").user("Capital of France?");
    /// with_span("qa", "France", async { model.generate(ask()).await.map(|r| r.text) }).await.unwrap();
    ///
    /// let player = Player::from_traces("qa", traces.traces());
    /// let span = player.take_call(&ask(), false).unwrap();
    /// assert_eq!(span.response().unwrap().text, "Paris");
    /// // Served once: asked again, it is a miss.
    /// assert!(player.take_call(&ask(), false).is_err());
    /// # });
    /// ```
    ///
    /// # Errors
    /// The [`ModelError::CassetteMiss`] that `stream`/`generate` would fail
    /// with for `request`: the key and the path-by-path diff against the
    /// closest recorded request.
    pub fn take_call(&self, request: &ModelRequest, stream: bool) -> Result<Span, ModelError> {
        let kind = if stream {
            CallKind::Stream
        } else {
            CallKind::Generate
        };
        match self.take(request, kind, Instant::now()) {
            Ok(playback) => Ok(Span::clone(&playback.span)),
            Err(miss) => Err(miss.into_error(self)),
        }
    }

    /// The playback hash of `request`: the sha256 of its canonical JSON
    /// after redaction and ignored paths.
    pub fn request_hash(&self, request: &ModelRequest) -> String {
        self.playback_hash(&request_value(request))
    }

    /// The playback hash of a serialized request (a recorded span's input).
    pub(crate) fn playback_hash(&self, request: &Value) -> String {
        RequestMatcher::hash(&self.matcher.normalize(request))
    }

    /// A serialized request (a recorded span's input) as playback compares it.
    pub(crate) fn normalize(&self, request: &Value) -> Value {
        self.matcher.normalize(request)
    }

    /// A view that serves only the calls of trace `index` (in the order the
    /// traces were given), sharing what has been served with this player.
    pub(crate) fn for_trace(&self, index: usize) -> Self {
        Self {
            scope: Some(index),
            ..self.clone()
        }
    }

    /// The recorded traces, in the order given.
    pub(crate) fn recordings(&self) -> &[Recording] {
        &self.traces
    }

    pub(crate) fn scope(&self) -> Option<usize> {
        self.scope
    }

    fn reindexed(mut self) -> Self {
        self.matcher = self.options.matcher(&self.source_redaction);
        self.catalog = Arc::new(Catalog::build(&self.traces, &self.matcher));
        self.served = Arc::new(Mutex::new(vec![false; self.catalog.calls.len()]));
        self
    }

    /// The calls in this player's scope, with their catalog index.
    pub(crate) fn scoped_calls(&self) -> impl Iterator<Item = (usize, &RecordedCall)> + '_ {
        self.catalog
            .calls
            .iter()
            .enumerate()
            .filter(|(_, call)| self.in_scope(call))
    }

    fn in_scope(&self, call: &RecordedCall) -> bool {
        self.scope.is_none_or(|s| call.trace == s)
    }

    fn lock_served(&self) -> std::sync::MutexGuard<'_, Vec<bool>> {
        // Only plain flags are written under the lock: a poisoned one is still valid.
        self.served.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Finds the recording that answers `request` and marks it served, or
    /// says why there is none. The lock is held only for the lookup.
    // A `Miss` holds JSON maps, which grow past the lint's size once a crate
    // in the build turns on serde_json's `preserve_order` (rig-core does).
    #[allow(clippy::result_large_err)]
    pub(crate) fn take(
        &self,
        request: &ModelRequest,
        kind: CallKind,
        start: Instant,
    ) -> Result<Playback, Miss> {
        // The request's JSON is this call's own: normalized in place, not copied.
        let normalized = self.matcher.normalize_owned(request_value(request));
        let hash = RequestMatcher::hash(&normalized);
        let catalog = &self.catalog;
        let recorded: &[usize] = catalog.by_hash.get(&hash).map_or(&[], Vec::as_slice);
        let candidates = || {
            recorded
                .iter()
                .copied()
                .filter(|&i| self.in_scope(&catalog.calls[i]))
        };
        // A stream cannot be made from a whole answer; a whole answer can be
        // made from a stream (its recorded output is what the parts add up to).
        let usable = || {
            candidates().filter(|&i| kind == CallKind::Generate || catalog.calls[i].span.streamed)
        };
        let chosen = {
            let mut served = self.lock_served();
            match usable().find(|&i| !served[i]) {
                Some(i) => {
                    served[i] = true;
                    Some(i)
                }
                None if self.options.repeats_allowed() => usable().next_back(),
                None => None,
            }
        };
        match chosen {
            Some(i) => {
                let call = &catalog.calls[i];
                self.traces[call.trace].note_used();
                let key = if self.whole_store {
                    Arc::from(self.traces[call.trace].trace.key())
                } else {
                    Arc::clone(&self.key)
                };
                Ok(Playback {
                    span: call.span.clone(),
                    key,
                    api: self.api,
                    origin: Arc::clone(&call.origin),
                    start,
                    speed: self.options.pace(),
                })
            }
            None => {
                let reason = if let Some(first) = usable().next() {
                    MissReason::Exhausted {
                        times: usable().count(),
                        trace: catalog.calls[first].trace,
                    }
                } else if let Some(i) = candidates().next() {
                    MissReason::RecordedAsGenerate {
                        trace: catalog.calls[i].trace,
                        origin: catalog.calls[i].origin.to_string(),
                    }
                } else {
                    MissReason::NotRecorded
                };
                Err(Miss {
                    hash,
                    normalized,
                    reason,
                })
            }
        }
    }
}

impl Recording {
    /// A recording read from a bucket: named as a file would be, noted in
    /// no usage ledger.
    #[cfg(feature = "object-store")]
    fn unledgered(stored: StoredTrace) -> Self {
        Self {
            origin: format!("{}/{}.json", stored.trace.key(), stored.hash),
            trace: Arc::new(stored.trace),
            cassette: None,
        }
    }
}

impl From<StoredTrace> for Recording {
    /// Named `<key>/<hash>.json`: where the file is inside the store, the
    /// same on every machine.
    /// It is noted in the usage ledger of the store its file lies in.
    fn from(stored: StoredTrace) -> Self {
        let cassette =
            UsageLedger::for_cassette(&stored.path, stored.trace.key()).map(|ledger| LedgerEntry {
                ledger,
                hash: stored.hash.clone(),
                noted: AtomicBool::new(false),
            });
        Self {
            origin: format!("{}/{}.json", stored.trace.key(), stored.hash),
            trace: Arc::new(stored.trace),
            cassette,
        }
    }
}

impl Catalog {
    fn build(traces: &[Recording], matcher: &RequestMatcher) -> Self {
        let mut catalog = Self::default();
        for (t, recording) in traces.iter().enumerate() {
            let paths: HashMap<SpanId, String> = span_paths(&recording.trace)
                .into_iter()
                .map(|(path, span)| (span.id, path))
                .collect();
            for (index, span) in recording.trace.spans.iter().enumerate() {
                if span.kind != SpanKind::Llm {
                    continue;
                }
                let hash = RequestMatcher::hash(&matcher.normalize(&span.input));
                catalog
                    .by_hash
                    .entry(hash)
                    .or_default()
                    .push(catalog.calls.len());
                catalog.calls.push(RecordedCall {
                    trace: t,
                    origin: Arc::from(format!("{}, span {}", recording.origin, span.id)),
                    path: paths
                        .get(&span.id)
                        .cloned()
                        .unwrap_or_else(|| span.key.clone()),
                    span: SpanRef {
                        trace: Arc::clone(&recording.trace),
                        index,
                    },
                });
            }
        }
        catalog
    }
}

impl RecordedCall {
    /// `<span path> (<where>): "<last user text>"`, the text shortened.
    pub(crate) fn describe(&self) -> String {
        match last_user_text(&self.span.input) {
            Some(text) => format!("{} ({}): {}", self.path, self.origin, quote_short(&text)),
            None => format!("{} ({})", self.path, self.origin),
        }
    }
}

/// The most characters of a recorded prompt [`RecordedCall::describe`] quotes.
const QUOTED_CHARS: usize = 60;

/// The text of the last user message of a serialized request, if any.
fn last_user_text(request: &Value) -> Option<String> {
    let messages = request.get("messages")?.as_array()?;
    let message = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
    let text: Vec<&str> = message
        .get("content")?
        .as_array()?
        .iter()
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect();
    (!text.is_empty()).then(|| text.join(" "))
}

/// `text` in quotes on one line, cut to [`QUOTED_CHARS`] with `…`.
fn quote_short(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut shown: String = one_line.chars().take(QUOTED_CHARS).collect();
    if one_line.chars().count() > QUOTED_CHARS {
        shown.push('…');
    }
    format!("\"{shown}\"")
}

fn request_value(request: &ModelRequest) -> Value {
    // A ModelRequest is plain data with string keys: it always serializes.
    // Past the cassette depth limit it becomes the `$too_deep` marker, which
    // no recording holds (the store refuses it): a miss, never a stack overflow.
    crate::json::canonical::to_span_json(request).unwrap_or(Value::Null)
}

impl Model for Player {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn generate(&self, req: ModelRequest) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        self.generate_noted(req).0
    }

    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        self.stream_noted(req).0
    }

    fn generate_noted(
        &self,
        req: ModelRequest,
    ) -> (
        BoxFuture<'static, Result<ModelResponse, ModelError>>,
        CallNote,
    ) {
        match self.take(&req, CallKind::Generate, Instant::now()) {
            Ok(playback) => {
                let note = self.note(&playback);
                (playback.generate(), note)
            }
            Err(miss) => (
                Box::pin(future::ready(Err(miss.into_error(self)))),
                CallNote::default(),
            ),
        }
    }

    fn stream_noted(
        &self,
        req: ModelRequest,
    ) -> (BoxFuture<'static, Result<PartStream, ModelError>>, CallNote) {
        match self.take(&req, CallKind::Stream, Instant::now()) {
            Ok(playback) => {
                let note = self.note(&playback);
                (playback.stream(), note)
            }
            Err(miss) => (
                Box::pin(future::ready(Err(miss.into_error(self)))),
                CallNote::default(),
            ),
        }
    }
}
