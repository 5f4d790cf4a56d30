//! Recording: attribution, finalization, passthrough, timing, recorded requests, sink failures, spawned-task context and the exports to `tracing` and OpenTelemetry.

mod attribution;
#[path = "../common/mod.rs"]
mod common;
#[cfg(any(feature = "otel", feature = "tracing"))]
mod export_scenario;
mod finalization;
#[cfg(feature = "otel")]
mod otel_export;
mod passthrough;
mod paused_clock;
mod recorded_request;
mod sink_drop;
mod sink_failures;
mod span_outputs;
mod spawn_carry;
mod timing;
#[cfg(feature = "tracing")]
mod tracing_export;
