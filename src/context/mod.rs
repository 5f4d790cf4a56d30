//! The current span of a task, and the tools that set and carry it.
//!
//! The current span lives in a tokio task-local, so it belongs to the task
//! (or future) that runs it, never to a shared object. [`with_span`] runs a
//! future inside a new span; [`spawn`] and [`InSpan::in_current_span`] carry
//! the current span into spawned tasks. A bare `tokio::spawn` starts with no
//! current span: calls made there become roots of their own.
//!
//! It also keeps the spans while they run ([`SpanContext`] and the live
//! trace behind it): a trace is handed to its sinks once every span in it
//! has ended and every future carried into another task with
//! [`InSpan`] or [`spawn`] has completed or been dropped.
//! [`record`](crate::record) builds on this module; this module never
//! names `record`.

mod in_span;
mod live;
mod real_clock;
mod with_span;

pub use in_span::{InCurrentSpan, InSpan, spawn};
pub(crate) use with_span::with_root_span;
pub use with_span::{with_span, with_span_result};

pub use live::SpanContext;
pub(crate) use live::{LiveSpan, SpanStart};

tokio::task_local! {
    /// The current span; `None` when scoped explicitly to no span
    /// ([`InSpan::in_span`] with `None`), which hides any enclosing span.
    pub(crate) static CURRENT: Option<SpanContext>;
}

/// The calling task's current span, if it runs inside one.
pub fn current_span() -> Option<SpanContext> {
    CURRENT.try_with(Option::clone).ok().flatten()
}
