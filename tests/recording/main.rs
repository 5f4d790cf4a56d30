//! Recording: attribution, finalization, passthrough, timing, recorded requests, sink failures and spawned-task context.

mod attribution;
#[path = "../common/mod.rs"]
mod common;
mod finalization;
mod passthrough;
mod paused_clock;
mod recorded_request;
mod sink_drop;
mod sink_failures;
mod span_outputs;
mod spawn_carry;
mod timing;
