//! Recorded spans out to other tracing systems, named as the OpenTelemetry
//! GenAI semantic conventions name them.
//!
//! | item | what it is |
//! |---|---|
//! | [`TracingSink`] | (feature `tracing`) emits every finished trace as a tree of `tracing` spans |
//! | [`OtelSink`] | (feature `otel`) exports every finished trace through an OpenTelemetry `SpanExporter` |
//!
//! Exports are [`Sink`](crate::Sink)s: they see finished traces, after the
//! fact, and never take part in attribution (the task-local context does).
//! Put one beside a cassette store with [`Tee`](crate::sink::Tee). What is
//! exported follows contract 12: the recorded times exactly, the GenAI
//! names, and `gen_ai.response.time_to_first_chunk` from the first
//! *content* part, never framing. An export never blocks or fails a call.

mod attributes;
#[cfg(feature = "tracing")]
mod callsite;
#[cfg(feature = "otel")]
mod otel_sink;
#[cfg(feature = "tracing")]
mod tracing_sink;

#[cfg(feature = "otel-otlp")]
pub use otel_sink::OtlpBuildError;
#[cfg(feature = "otel")]
pub use otel_sink::{ExportError, OtelOptions, OtelSink, SCOPE_NAME};
#[cfg(feature = "tracing")]
pub use tracing_sink::TracingSink;
