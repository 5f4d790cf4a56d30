//! Recording: the [`Recorder`] middleware, the [`Sink`] trait finished traces
//! go to, and the in-memory [`Collector`].

mod collector;
mod health;
pub(crate) mod live;
mod recorder;
mod recording_stream;
mod sink;

pub use collector::Collector;
pub use health::FlushReport;
pub(crate) use health::{SinkHandle, panic_message};
pub use live::SpanContext;
pub(crate) use live::{CallLabel, calling_span, label_call};
pub use recorder::Recorder;
pub use sink::{Sink, SinkError};
