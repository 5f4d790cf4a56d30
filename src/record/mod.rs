//! Recording: the [`Recorder`] middleware. Finished traces go to a
//! [`Sink`] (see [`sink`](crate::sink)); the spans they are
//! made of are tracked while they run by [`context`](crate::context).

mod recorder;
mod recording_stream;

// Kept so the paths users already name (`tracedeck::record::Sink`, ...) still work.
pub use crate::context::SpanContext;
pub use crate::sink::{Collector, FlushReport, Sink, SinkError};
pub use recorder::Recorder;
