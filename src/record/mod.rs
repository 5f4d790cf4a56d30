//! Recording: the [`Recorder`] middleware. Finished traces go to a
//! [`Sink`](crate::Sink) (see [`sink`](crate::sink)); the spans they are
//! made of are tracked while they run by [`context`](crate::context).

mod recorder;
mod recording_stream;

pub use recorder::Recorder;
