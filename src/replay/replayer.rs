use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::miss::PlaybackApi;
use super::player::Recording;
use super::report::{ReplayReport, TraceOutcome, TraceReplay};
use super::{LlmTiming, PlaybackOptions, Player, ReplayError, SpanTreeDiff, Speed};
use crate::cassette::{Redaction, Store};
use crate::context::with_root_span;
use crate::json::diff_json;
use crate::model::Model;
use crate::record::Recorder;
use crate::sink::{Collector, Sink, SinkHandle, panic_message};
use crate::span::{SpanKind, SpanStatus, Trace};

type TraceFilter = Arc<dyn Fn(&Trace) -> bool + Send + Sync>;

/// Replays every recorded trace of `key` in `store` through `f` and reports
/// what changed; [`Replayer`] has the options.
///
/// For each recorded trace, `f` gets the recorded root input, deserialized
/// into its own input type, and a model that serves that trace's recorded
/// calls (a [`Player`] scoped to the trace, wrapped in a
/// [`Recorder`](crate::Recorder)). It runs inside
/// `with_span(key, recorded input, ..)`, so the new trace mirrors the old
/// one and the two are compared span by span. Each replayed call is
/// recorded under the key and model of the recorded call it replays, so a
/// trace recorded through several recorders (`Recorder::key`) replays to
/// the same tree through the one model `f` gets.
///
/// ```
/// use std::sync::Arc;
/// use tracedeck::{Model, ModelRequest, Recorder, Script, ScriptedModel, with_span};
/// use tracedeck::cassette::Store;
/// use tracedeck::replay::replay;
///
/// async fn capital(country: String, model: Arc<dyn Model>) -> Result<String, String> {
///     let req = ModelRequest::new("m").user(format!("Capital of {country}?"));
///     model.generate(req).await.map(|r| r.text).map_err(|e| e.to_string())
/// }
///
/// # tracedeck::testing::run_paused(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = Store::open(dir.path()).unwrap();
///
/// // Record a session into the store...
/// let live = Arc::new(Recorder::new(ScriptedModel::new(Script::text("Paris")), store.sink()));
/// with_span("capital", "France", capital("France".into(), live.clone())).await.unwrap();
/// assert!(live.flush().await.is_clean());
///
/// // ...and replay it, with no live model.
/// let report = replay(&store, "capital", capital).await.unwrap();
/// report.assert_unchanged();
/// # });
/// ```
///
/// # Errors
/// As [`Replayer::run`].
pub async fn replay<I, O, F, Fut>(
    store: &Store,
    key: &str,
    f: F,
) -> Result<ReplayReport, ReplayError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(I, Arc<dyn Model>) -> Fut,
    Fut: Future<Output = O>,
{
    Replayer::new(store, key).run(f).await
}

/// [`replay`] with options: how many traces at once, which traces, how the
/// player matches and paces calls ([`PlaybackOptions`]), or a live model instead of the recordings (to see what a
/// prompt or model change does to every recorded input).
///
/// ```
/// # use std::sync::Arc;
/// # use tracedeck::{Model, replay::Replayer, cassette::Store};
/// # async fn demo(store: Store, f: fn(String, Arc<dyn Model>) -> futures::future::BoxFuture<'static, String>) -> Result<(), tracedeck::replay::ReplayError> {
/// let report = Replayer::new(&store, "chat-turn")
///     .concurrency(8)
///     .filter(|trace| trace.spans.len() > 1)
///     .ignore_path("/settings/seed")?
///     .run(f)
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Replayer {
    key: String,
    source: Source,
    concurrency: usize,
    filter: Option<TraceFilter>,
    live: Option<Arc<dyn Model>>,
    options: PlaybackOptions,
}

#[derive(Clone)]
enum Source {
    Store(Store),
    /// Shared with each run's player and report, never copied.
    Traces(Vec<Arc<Trace>>),
}

impl std::fmt::Debug for Replayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replayer")
            .field("key", &self.key)
            .field("concurrency", &self.concurrency)
            .field("filtered", &self.filter.is_some())
            .field("live", &self.live.as_ref().map(|m| m.info()))
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Replayer {
    /// Replays the traces recorded under `key` in `store`, in content order
    /// (see [`Store::traces`]): the report's order never depends on file
    /// times.
    pub fn new(store: &Store, key: impl Into<String>) -> Self {
        Self::with_source(key.into(), Source::Store(store.clone()))
    }

    /// Replays the given traces whose root key is `key` (traces from a
    /// [`Collector`], say), in the order given.
    pub fn from_traces(key: impl Into<String>, traces: impl IntoIterator<Item = Trace>) -> Self {
        let key = key.into();
        let traces = traces
            .into_iter()
            .filter(|t| t.key() == key)
            .map(Arc::new)
            .collect();
        Self::with_source(key, Source::Traces(traces))
    }

    fn with_source(key: String, source: Source) -> Self {
        Self {
            key,
            source,
            concurrency: 1,
            filter: None,
            live: None,
            options: PlaybackOptions::default(),
        }
    }

    /// Runs up to `n` traces at once (default 1). Every trace has its own
    /// root span and its own scope of recorded calls, so concurrency changes
    /// no result.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Replays only the recorded traces for which `keep` is true.
    pub fn filter(mut self, keep: impl Fn(&Trace) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Arc::new(keep));
        self
    }

    /// Calls `model` instead of serving the recordings: every call is live
    /// (and recorded into the new trace), and the report shows how its
    /// answers compare with the recorded ones.
    pub fn live(mut self, model: Arc<dyn Model>) -> Self {
        self.live = Some(model);
        self
    }

    /// Plays the recordings back with `options` instead of the ones set so
    /// far.
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

    /// Serves the last recording again when a request is repeated more often
    /// than recorded; see [`PlaybackOptions::allow_repeats`].
    pub fn allow_repeats(mut self) -> Self {
        self.options = self.options.allow_repeats();
        self
    }

    /// Sets the pace of playback; see [`PlaybackOptions::speed`].
    pub fn speed(mut self, speed: Speed) -> Self {
        self.options = self.options.speed(speed);
        self
    }

    /// Replays every selected trace through `f` and reports.
    ///
    /// A trace whose function panics, or returns an error the recording did
    /// not have, is reported as failed; the others still run. With
    /// [`PlaybackOptions::fail_on_unused_calls`], so is a trace that left
    /// some of its recorded calls unused. Files under the key that fail to
    /// load are listed in the report, not fatal.
    ///
    /// # Errors
    /// [`ReplayError::ZeroConcurrency`]; [`ReplayError::Cassette`] for an
    /// invalid key or unreadable store folder; [`ReplayError::NoRecordings`]
    /// when the key has no recorded trace at all.
    pub async fn run<I, O, F, Fut>(self, f: F) -> Result<ReplayReport, ReplayError>
    where
        I: DeserializeOwned,
        O: Serialize,
        F: Fn(I, Arc<dyn Model>) -> Fut,
        Fut: Future<Output = O>,
    {
        if self.concurrency == 0 {
            return Err(ReplayError::ZeroConcurrency);
        }
        let (recordings, unreadable, redaction, location) = self.load()?;
        if recordings.is_empty() && unreadable.is_empty() {
            return Err(ReplayError::NoRecordings {
                key: self.key.clone(),
                location,
            });
        }
        let player = self.player(recordings, redaction);
        let selected: Vec<usize> = (0..player.recordings().len())
            .filter(|&i| {
                let trace = &player.recordings()[i].trace;
                self.filter.as_ref().is_none_or(|keep| keep(trace))
            })
            .collect();
        let f = &f;
        let player = &player;
        let traces = futures::stream::iter(selected)
            .map(|i| self.replay_one(player, i, f))
            .buffered(self.concurrency)
            .collect()
            .await;
        Ok(ReplayReport {
            key: self.key.clone(),
            traces,
            unreadable,
        })
    }

    fn load(&self) -> Result<(Vec<Recording>, Vec<String>, Redaction, String), ReplayError> {
        match &self.source {
            Source::Store(store) => {
                let loaded = store.traces(&self.key)?;
                let recordings = loaded.traces.into_iter().map(Recording::from).collect();
                let unreadable = loaded.errors.iter().map(ToString::to_string).collect();
                Ok((
                    recordings,
                    unreadable,
                    store.redaction().clone(),
                    store.dir().display().to_string(),
                ))
            }
            Source::Traces(traces) => Ok((
                traces
                    .iter()
                    .enumerate()
                    .map(|(i, trace)| Recording::unstored(format!("trace {i}"), Arc::clone(trace)))
                    .collect(),
                Vec::new(),
                Redaction::default(),
                "the traces given".to_owned(),
            )),
        }
    }

    fn player(&self, recordings: Vec<Recording>, redaction: Redaction) -> Player {
        Player::from_recordings(self.key.clone(), recordings, redaction)
            .with_options(self.options.clone())
            .labelling_calls()
            .played_by(PlaybackApi::Replay)
    }

    /// Runs `f` on recorded trace `i` and compares.
    async fn replay_one<I, O, F, Fut>(&self, player: &Player, i: usize, f: &F) -> TraceReplay
    where
        I: DeserializeOwned,
        O: Serialize,
        F: Fn(I, Arc<dyn Model>) -> Fut,
        Fut: Future<Output = O>,
    {
        let recording = &player.recordings()[i];
        // Replayed, so used, even when no call of it is served (a trace with
        // no model call, or a live replay of its input).
        recording.note_used();
        let recorded = &recording.trace;
        let collector = Collector::new();
        // One sink object for the recorder and the root span, so the trace is
        // delivered once, even when the function fails before any call.
        let sink: Arc<dyn Sink> = Arc::new(collector.clone());
        let inner: Arc<dyn Model> = match &self.live {
            Some(live) => Arc::clone(live),
            None => Arc::new(player.for_trace(i)),
        };
        // Each served call takes the key and model of the call it replays (the
        // player labels it); a call with no recording takes the first call's key.
        let llm_key = recorded
            .llm_spans()
            .next()
            .map_or_else(|| "llm".to_owned(), |s| s.key.clone());
        let model: Arc<dyn Model> =
            Arc::new(Recorder::with_shared_sink(inner, Arc::clone(&sink)).key(llm_key));
        let root_input = Value::clone(&recorded.root().input);

        let mut failure = match serde_json::from_value::<I>(root_input.clone()) {
            Err(e) => Some(format!(
                "the recorded input does not decode as the function's input type: {e}"
            )),
            Ok(input) => {
                let run = with_root_span(
                    self.key.clone(),
                    root_input,
                    SinkHandle::new(sink),
                    async move { f(input, model).await },
                );
                match AssertUnwindSafe(run).catch_unwind().await {
                    Ok(_) => None,
                    Err(panic) => Some(format!("panicked: {}", panic_message(panic.as_ref()))),
                }
            }
        };
        let replayed = collector
            .take()
            .into_iter()
            .find(|t| t.key() == self.key && t.root().kind == SpanKind::Task);
        if let (None, Some(new)) = (&failure, &replayed) {
            let root = new.root();
            if root.status == SpanStatus::Error && recorded.root().status != SpanStatus::Error {
                let output = root.output.as_deref().unwrap_or(&Value::Null);
                let err = output.get("Err").unwrap_or(output);
                failure = Some(format!("returned an error: {}", error_text(err)));
            }
        }
        if failure.is_none() && self.live.is_none() && self.options.unused_calls_fail() {
            let unused = player.for_trace(i).unused_calls();
            if !unused.is_empty() {
                failure = Some(format!(
                    "{} recorded call(s) were not used (the code now makes fewer calls; \
                     strict by `PlaybackOptions::fail_on_unused_calls`):\n{}",
                    unused.len(),
                    unused
                        .iter()
                        .map(|c| format!("  {c}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ));
            }
        }
        if failure.is_none() && replayed.is_none() {
            failure = Some(
                "the replayed trace did not finish: a task spawned inside it was still running when the function returned"
                    .to_owned(),
            );
        }
        compare(recording, replayed, failure)
    }
}

/// An error value as text: a JSON string as it is, anything else as JSON.
fn error_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn compare(recording: &Recording, replayed: Option<Trace>, failure: Option<String>) -> TraceReplay {
    let recorded = &recording.trace;
    let (output_diff, tree, llm_timings) = match &replayed {
        Some(new) => (
            diff_json(
                recorded.root().output.as_deref().unwrap_or(&Value::Null),
                new.root().output.as_deref().unwrap_or(&Value::Null),
            ),
            SpanTreeDiff::between(recorded, new),
            LlmTiming::between(recorded, new),
        ),
        None => (Vec::new(), SpanTreeDiff::default(), Vec::new()),
    };
    let outcome = match failure {
        Some(reason) => TraceOutcome::Failed { reason },
        None if output_diff.is_empty() && tree.is_empty() => TraceOutcome::Unchanged,
        None => TraceOutcome::Changed,
    };
    // An exact replay keeps one trace, not two equal ones (issue 15 item 4).
    let replayed = replayed.map(|new| {
        if new == **recorded {
            Arc::clone(recorded)
        } else {
            Arc::new(new)
        }
    });
    TraceReplay {
        origin: recording.origin.clone(),
        recorded: Arc::clone(recorded),
        replayed,
        outcome,
        output_diff,
        tree,
        llm_timings,
    }
}
