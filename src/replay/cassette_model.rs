use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::miss::PlaybackApi;
use super::player::CallKind;
use super::{Mode, PlaybackOptions, Player, ReplayError, Speed};
use crate::cassette::Store;
use crate::model::{
    CallNote, Model, ModelError, ModelInfo, ModelRequest, ModelResponse, PartStream,
};
use crate::record::Recorder;
use crate::sink::{Filtered, FlushReport};
use crate::span::{SpanStatus, Trace};

/// A cassette folder in front of a live model: a [`Model`] that replays,
/// records, or both, as its [`Mode`] says.
///
/// ```no_run
/// # use tracedeck::{ScriptedModel, Script, replay::CassetteModel};
/// # fn demo(live: ScriptedModel) -> Result<(), tracedeck::replay::ReplayError> {
/// // Mode from the environment: Replay on CI, Auto locally, TRACEDECK_MODE overrides.
/// let model = CassetteModel::at("tests/cassettes").in_front_of(live)?;
/// # Ok(()) }
/// ```
///
/// - `Replay`: every call is served by a [`Player`] over the folder; a call
///   with no recording fails with `CassetteMiss`.
/// - `Auto`: recorded calls are served; the others call the live model, and
///   every trace that made such a call is written to the folder (recorded
///   calls included, so the new cassette is complete). Traces served entirely
///   from the folder are not written again.
/// - `Record`: every call is live and every trace is written.
/// - `Passthrough`: every call is live; nothing is read or written.
///
/// Traces are written in the background; call [`flush`](CassetteModel::flush)
/// before the process ends (or before replaying what was just recorded). In
/// `Record` and `Auto` the model records by itself: do not wrap it in another
/// [`Recorder`](crate::Recorder), or each call is recorded twice, as two
/// spans of the same trace, into the folder too. In `Replay` and
/// `Passthrough` it records nothing; wrap it in a `Recorder` there to see its
/// calls in your traces.
pub struct CassetteModel {
    mode: Mode,
    store: Store,
    route: Route,
}

enum Route {
    Replay(Player),
    Record(Recorder<Arc<dyn Model>>),
    /// The recorder writes to the folder only the traces that went live.
    Auto(Recorder<AutoModel>),
    Passthrough(Arc<dyn Model>),
}

/// Builds a [`CassetteModel`]; made by [`CassetteModel::at`] or
/// [`CassetteModel::on`].
#[derive(Debug, Clone)]
pub struct CassetteModelBuilder {
    store: StoreSource,
    mode: Option<Mode>,
    key: Option<String>,
    options: PlaybackOptions,
    /// Set by `#[tracedeck::test]`: the API its misses name, and whether the
    /// live model given is a stand-in (its info is then not reported).
    test_api: Option<(PlaybackApi, bool)>,
}

#[derive(Debug, Clone)]
enum StoreSource {
    Dir(PathBuf),
    Store(Store),
}

impl CassetteModel {
    /// A cassette in the folder `dir` (created if missing).
    pub fn at(dir: impl Into<PathBuf>) -> CassetteModelBuilder {
        CassetteModelBuilder::new(StoreSource::Dir(dir.into()))
    }

    /// A cassette in an open store (with its redaction).
    pub fn on(store: Store) -> CassetteModelBuilder {
        CassetteModelBuilder::new(StoreSource::Store(store))
    }

    /// The mode it runs in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The store it reads and writes.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Waits until every trace recorded so far is written, and reports what
    /// could not be. Nothing to wait for in `Replay` and `Passthrough`.
    pub async fn flush(&self) -> FlushReport {
        match &self.route {
            Route::Record(recorder) => recorder.flush().await,
            Route::Auto(recorder) => recorder.flush().await,
            Route::Replay(_) | Route::Passthrough(_) => FlushReport::default(),
        }
    }
}

impl std::fmt::Debug for CassetteModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CassetteModel")
            .field("mode", &self.mode)
            .field("store", &self.store.dir())
            .finish_non_exhaustive()
    }
}

impl CassetteModelBuilder {
    fn new(store: StoreSource) -> Self {
        Self {
            store,
            mode: None,
            key: None,
            options: PlaybackOptions::default(),
            test_api: None,
        }
    }

    /// Has misses name `api` (a `#[tracedeck::test]`) instead of a
    /// `CassetteModel`; `stand_in_live` when the live model given only stands
    /// in for one that was not built (replay reports the recorded model).
    #[cfg_attr(not(feature = "macros"), allow(dead_code))]
    pub(crate) fn played_by_test(mut self, api: PlaybackApi, stand_in_live: bool) -> Self {
        self.test_api = Some((api, stand_in_live));
        self
    }

    /// Runs in `mode` instead of [`Mode::from_env`].
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Replays only the recordings under `key` (default: every key).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Plays recordings back with `options` instead of the ones set so far
    /// (in `Replay` and `Auto`).
    pub fn options(mut self, options: PlaybackOptions) -> Self {
        self.options = options;
        self
    }

    /// Leaves `pointer` out when matching requests; see
    /// [`PlaybackOptions::ignore_path`].
    ///
    /// # Errors
    /// [`ReplayError::InvalidIgnoredPath`] for a malformed pointer.
    pub fn ignore_path(mut self, pointer: &str) -> Result<Self, ReplayError> {
        self.options = self.options.ignore_path(pointer)?;
        Ok(self)
    }

    /// Serves the last recording again when a request comes more often than
    /// recorded; see [`PlaybackOptions::allow_repeats`].
    pub fn allow_repeats(mut self) -> Self {
        self.options = self.options.allow_repeats();
        self
    }

    /// Sets the pace of playback; see [`PlaybackOptions::speed`].
    pub fn speed(mut self, speed: Speed) -> Self {
        self.options = self.options.speed(speed);
        self
    }

    /// Puts the cassette in front of `live`.
    ///
    /// # Errors
    /// [`ReplayError::InvalidMode`] when no mode was set and
    /// `TRACEDECK_MODE` is invalid; [`ReplayError::Cassette`] when the folder
    /// cannot be opened or (in `Replay` and `Auto`) a cassette in it cannot be
    /// loaded.
    pub fn in_front_of(self, live: impl Model + 'static) -> Result<CassetteModel, ReplayError> {
        let mode = match self.mode {
            Some(mode) => mode,
            None => Mode::from_env()?,
        };
        let store = match &self.store {
            StoreSource::Dir(dir) => Store::open(dir.clone())?,
            StoreSource::Store(store) => store.clone(),
        };
        let live: Arc<dyn Model> = Arc::new(live);
        // Under `#[tracedeck::test]` a failed or panicked run never
        // supersedes the cassette a passing run recorded.
        let in_test = self.test_api.is_some();
        let sink = Filtered::new(store.sink(), move |trace: &Trace| {
            !in_test || trace.root().status == SpanStatus::Ok
        });
        let route = match mode {
            Mode::Replay => Route::Replay(self.player(&store, live.info())?),
            Mode::Auto => {
                let auto = AutoModel {
                    player: self.player(&store, live.info())?,
                    live,
                };
                Route::Auto(Recorder::new(auto, sink).live_traces_only())
            }
            Mode::Record => Route::Record(Recorder::new(live, sink)),
            Mode::Passthrough => Route::Passthrough(live),
        };
        Ok(CassetteModel { mode, store, route })
    }

    fn player(&self, store: &Store, info: ModelInfo) -> Result<Player, ReplayError> {
        let player = match &self.key {
            Some(key) => Player::from_store(store, key)?,
            None => Player::from_whole_store(store)?,
        };
        let player = player.with_options(self.options.clone());
        Ok(match self.test_api {
            Some((api, true)) => player.played_by(api),
            Some((api, false)) => player.with_info(info).played_by(api),
            None => player
                .with_info(info)
                .played_by(PlaybackApi::CassetteModel {
                    mode_from_env: self.mode.is_none(),
                }),
        })
    }
}

impl Model for CassetteModel {
    fn info(&self) -> ModelInfo {
        match &self.route {
            Route::Replay(player) => player.info(),
            Route::Record(recorder) => recorder.info(),
            Route::Auto(recorder) => recorder.info(),
            Route::Passthrough(live) => live.info(),
        }
    }

    /// Whether calls may go to the live model: never in `Replay`.
    fn is_live(&self) -> bool {
        match &self.route {
            Route::Replay(_) => false,
            Route::Record(recorder) => recorder.is_live(),
            Route::Auto(recorder) => recorder.is_live(),
            Route::Passthrough(live) => live.is_live(),
        }
    }

    fn generate(&self, req: ModelRequest) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        match &self.route {
            Route::Replay(player) => player.generate(req),
            Route::Record(recorder) => recorder.generate(req),
            Route::Auto(recorder) => recorder.generate(req),
            Route::Passthrough(live) => live.generate(req),
        }
    }

    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        match &self.route {
            Route::Replay(player) => player.stream(req),
            Route::Record(recorder) => recorder.stream(req),
            Route::Auto(recorder) => recorder.stream(req),
            Route::Passthrough(live) => live.stream(req),
        }
    }
}

/// `Auto`'s model: the player when it has the call, the live model when not.
/// Served calls are noted [replayed](CallNote::replayed), so `Auto`'s
/// recorder writes exactly the traces that made a live call (recorded calls
/// included, so the new cassette is complete).
struct AutoModel {
    player: Player,
    live: Arc<dyn Model>,
}

impl Model for AutoModel {
    fn info(&self) -> ModelInfo {
        self.live.info()
    }

    /// A miss goes to the live model (served calls are noted replayed).
    fn is_live(&self) -> bool {
        self.live.is_live()
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
        match self.player.take(&req, CallKind::Generate, Instant::now()) {
            Ok(playback) => (playback.generate(), CallNote::replayed()),
            Err(_) => live(self.live.generate_noted(req)),
        }
    }

    fn stream_noted(
        &self,
        req: ModelRequest,
    ) -> (BoxFuture<'static, Result<PartStream, ModelError>>, CallNote) {
        match self.player.take(&req, CallKind::Stream, Instant::now()) {
            Ok(playback) => (playback.stream(), CallNote::replayed()),
            Err(_) => live(self.live.stream_noted(req)),
        }
    }
}

/// A call that went to the live model: its trace is written, whatever the
/// live model says.
fn live<T>((call, mut note): (T, CallNote)) -> (T, CallNote) {
    note.replayed = false;
    (call, note)
}
