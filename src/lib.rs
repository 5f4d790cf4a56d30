//! # tracedeck
//!
//! Record-and-replay testing for LLM model calls.
//!
//! Real model calls are slow, non-deterministic and cost money; tracing SDKs
//! attribute concurrent calls to the wrong parent, stamp time-to-first-token
//! (TTFT) on framing chunks, and drop the timing of streamed chunks. tracedeck
//! wraps any [`Model`] in a [`Recorder`] that records each call as a keyed
//! span — full input, output, every streamed part with its arrival time — and
//! replays recordings through your own async functions on tokio's virtual
//! clock, so outputs, span trees, concurrency and TTFT can be asserted
//! exactly, without a network.
//!
//! ## Getting started
//!
//! Wrap the model once, run your code inside [`with_span`], and read the
//! trace back. Here the model is a [`ScriptedModel`] on a paused clock, so the
//! times below are exact:
//!
//! ```
//! use std::time::Duration;
//! use futures::StreamExt;
//! use tracedeck::{
//!     Collector, Model, ModelRequest, Recorder, Script, ScriptedModel, StreamPart, with_span,
//! };
//!
//! # tracedeck::testing::run_paused(async {
//! // A stream that takes 800 ms to open, sends framing at once, and its
//! // first token 400 ms later: real TTFT is 1.2 s, not ~0.
//! let script = Script::new()
//!     .open_after(Duration::from_millis(800))
//!     .part(StreamPart::StreamStart)
//!     .part(StreamPart::RoleDelta { role: tracedeck::model::Role::Assistant })
//!     .part_after(Duration::from_millis(400), StreamPart::text("Bonjour"));
//!
//! let traces = Collector::new();
//! // One shared recorder for the whole program.
//! let model = Recorder::new(ScriptedModel::new(script), traces.clone());
//!
//! let reply = with_span("chat-turn", "Say hello in French", async {
//!     let req = ModelRequest::new("gpt-4o-mini").user("Say hello in French");
//!     let mut parts = model.stream(req).await?;
//!     let mut text = String::new();
//!     while let Some(part) = parts.next().await {
//!         if let StreamPart::TextDelta { text: t } = part? {
//!             text.push_str(&t);
//!         }
//!     }
//!     Ok::<_, tracedeck::ModelError>(text)
//! })
//! .await
//! .unwrap();
//! assert_eq!(reply, "Bonjour");
//!
//! let trace = &traces.traces()[0];
//! let call = &trace.spans[1];
//! assert_eq!(call.parent, Some(trace.root().id)); // attributed to its own task
//! assert_eq!(call.timing.opened_us, Some(800_000)); // headers
//! assert_eq!(call.timing.first_part_us, Some(800_000)); // framing
//! assert_eq!(call.timing.ttft_us, Some(1_200_000)); // first content
//! println!("{}", trace.render());
//! # });
//! ```
//!
//! ## The pieces
//!
//! The crate root re-exports the names of the getting-started path; every
//! other public type lives in the one module that holds its kind:
//!
//! | module | what it holds |
//! |---|---|
//! | [`model`] | the [`Model`] trait, [`ModelRequest`], [`ModelResponse`], [`StreamPart`], [`ModelError`], and the types inside them: [`Message`](model::Message), [`Role`](model::Role), [`ContentPart`](model::ContentPart), [`ToolCall`](model::ToolCall), [`Usage`](model::Usage), [`FinishReason`](model::FinishReason), [`ModelInfo`](model::ModelInfo), [`PartStream`](model::PartStream), [`ResponseAccumulator`](model::ResponseAccumulator), ... |
//! | [`context`] | the task's current span: [`with_span`], [`with_span_result`](context::with_span_result) (for errors that do not serialize), [`spawn`], [`InSpan`], [`current_span`](context::current_span) |
//! | [`span`] | finished [`Span`]s and [`Trace`]s ([`Trace::render`], [`Trace::snapshot`]), [`SpanKind`](span::SpanKind), [`SpanStatus`](span::SpanStatus), [`Timing`](span::Timing), [`TraceStats`](span::TraceStats) |
//! | [`sink`] | where finished traces go: the [`Sink`] trait, the in-memory [`Collector`], [`FlushReport`](sink::FlushReport), [`SinkError`](sink::SinkError), the background [`QueuedSink`](sink::QueuedSink) every durable sink reuses, [`Tee`](sink::Tee) to feed several |
//! | `export` | (feature `tracing`) `TracingSink`: every recorded span also a `tracing` span, with the OpenTelemetry GenAI names; (feature `otel`) `OtelSink`: finished traces exported as OpenTelemetry spans |
//! | [`record`] | the [`Recorder`] middleware |
//! | [`json`] | JSON Pointers with `*`, the canonical JSON text cassettes are hashed from, structural diffs |
//! | [`cassette`] | the content-addressed [`Store`] of traces, its background [`StoreSink`](cassette::StoreSink), [`Redaction`](cassette::Redaction), [`CassetteError`](cassette::CassetteError), verify reports |
//! | [`replay`](mod@replay) | the [`Player`], [`Mode`]s, [`CassetteModel`], the [`replay()`] engine ([`Replayer`](replay::Replayer) for options), its [`ReplayReport`] and [`TraceOutcome`](replay::TraceOutcome)s, [`ReplayError`](replay::ReplayError), [`PlaybackOptions`](replay::PlaybackOptions) |
//! | [`providers`] | the HTTP adapters [`OpenAi`], [`OpenAiResponses`], [`Anthropic`], their [`ApiKey`](providers::ApiKey) and errors (feature `http`, on by default); the SSE reader and per-API stream decoders (always) |
//! | `adapters` | (feature `async-openai`) `adapters::async_openai::client`: an `async_openai::Client` whose chat completions are served in process by any tracedeck [`Model`]; (feature `rig`) `adapters::rig::completion_model`: a rig completion model, for rig's agents, served the same way |
//! | [`testing`] | [`ScriptedModel`], [`Script`]; `testing::run_paused` and the loopback `SseServer` / `OpenAiSimulator` (feature `testing`); proptest strategies (feature `proptest`) |
//!
//! ## Contracts
//!
//! - **Attribution**: a call's parent is the calling task's current span,
//!   captured when `generate`/`stream` is called, never state on the shared
//!   model. A call with no current span is a root of its own.
//! - **Timing**: `t0` is taken when the recorder is called, before the inner
//!   model; part offsets are integer microseconds on tokio's clock; TTFT is the
//!   first *content* part ([`StreamPart::is_content`]), never framing.
//! - **Pass-through**: every part reaches the caller unchanged, in order,
//!   unbuffered; recording failures never fail the call ([`Recorder::flush`]
//!   reports them).
//! - **Finalization**: a span ends exactly once — finished, failed (partial
//!   output kept) or cancelled when the consumer drops the stream.
//! - **Cassettes**: one trace per file, canonical JSON at
//!   `<dir>/<key>/<sha256>.json`, written atomically once every span has
//!   ended; loading re-hashes and names the file on any mismatch.
//! - **Determinism**: the same session on a paused clock records to the same
//!   bytes.
//! - **Playback**: a [`Player`] serves a call by the sha256 of its canonical
//!   request, re-emitting every part at its recorded offset; a miss is a
//!   [`ModelError::CassetteMiss`] with a diff against the closest recording.
//! - **Modes**: `Replay` (default under `CI`), `Record`, `Auto` (default
//!   locally), `Passthrough`; `TRACEDECK_MODE` overrides.
//!
//! ## Replaying in a test
//!
//! Record once into a [`Store`], then replay every recorded root input
//! through your own function and check nothing changed:
//!
//! ```
//! use tracedeck::{Model, ModelRequest, Recorder, Script, ScriptedModel, Store, replay, with_span};
//! use std::sync::Arc;
//!
//! async fn answer(question: String, model: Arc<dyn Model>) -> Result<String, tracedeck::ModelError> {
//!     let req = ModelRequest::new("gpt-4o-mini").user(question);
//!     Ok(model.generate(req).await?.text)
//! }
//!
//! # tracedeck::testing::run_paused(async {
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path()).unwrap();
//!
//! // Record: the live (here scripted) model behind a recorder writing to the store.
//! let recorder = Arc::new(Recorder::new(ScriptedModel::new(Script::text("Paris")), store.sink()));
//! let question = "Capital of France?".to_string();
//! with_span("qa", &question, answer(question.clone(), recorder.clone())).await.unwrap();
//! assert!(recorder.flush().await.is_clean());
//! assert_eq!(store.traces("qa").unwrap().traces.len(), 1);
//!
//! // Replay: no model at all, the calls are served from the cassette.
//! let report = replay(&store, "qa", answer).await.unwrap();
//! report.assert_unchanged();
//! # });
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "async-openai", feature = "rig"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "async-openai", feature = "rig"))))]
pub mod adapters;
pub mod cassette;
pub mod context;
#[cfg(any(feature = "tracing", feature = "otel"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tracing", feature = "otel"))))]
pub mod export;
pub mod json;
pub mod model;
pub mod providers;
pub mod record;
pub mod replay;
pub mod sink;
pub mod span;
pub mod testing;

// The root re-exports the names of the getting-started path; everything
// else lives in its module (see the table in the crate docs).
pub use cassette::Store;
pub use context::{InSpan, spawn, with_span};
pub use model::{Model, ModelError, ModelRequest, ModelResponse, StreamPart};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use providers::{Anthropic, OpenAi, OpenAiResponses};
pub use record::Recorder;
pub use replay::{CassetteModel, Mode, Player, ReplayReport, replay};
pub use sink::{Collector, Sink};
pub use span::{Span, Trace};
pub use testing::{Script, ScriptedModel};

/// Per-test cassettes: `#[tracedeck::test]` (feature `macros`, on by default;
/// a test using it also needs the `testing` feature, for tokio's paused clock).
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use tracedeck_macros::test;

#[cfg(all(feature = "macros", feature = "testing"))]
#[doc(hidden)]
pub mod __private;

/// Expands to nothing when `#[tracedeck::test]` can run: the `testing`
/// feature (tokio's paused clock) is on.
#[cfg(all(feature = "macros", feature = "testing"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __require_testing {
    () => {};
}

/// Says what to add when `#[tracedeck::test]` is used without the `testing`
/// feature, instead of an error about a missing private module.
#[cfg(all(feature = "macros", not(feature = "testing")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __require_testing {
    () => {
        ::core::compile_error!(
            "`#[tracedeck::test]` needs tracedeck's `testing` feature (tokio's paused clock): \
             add `tracedeck = { version = \"*\", features = [\"testing\"] }` under \
             [dev-dependencies]"
        );
    };
}

/// Every Rust code block of the README, compiled (and run where it can be) as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
