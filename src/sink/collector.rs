use std::sync::{Arc, Mutex, PoisonError};

use super::{Sink, SinkError};
use crate::span::Trace;

/// An in-memory [`Sink`] for tests: keeps every finished trace.
///
/// Clones share one list, so keep a clone to read what a recorder recorded.
///
/// ```
/// use tracedeck::{Collector, Recorder, ScriptedModel, Script, Model, ModelRequest, with_span};
/// # tracedeck::testing::run_paused(async {
/// let traces = Collector::new();
/// let model = Recorder::new(ScriptedModel::new(Script::text("hi")), traces.clone());
/// with_span("greet", "hello", async {
///     model.generate(ModelRequest::new("m").user("hello")).await
/// })
/// .await
/// .unwrap();
/// assert_eq!(traces.traces()[0].spans.len(), 2);
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct Collector {
    traces: Arc<Mutex<Vec<Arc<Trace>>>>,
}

impl Collector {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every trace collected so far, in the order they finished.
    pub fn traces(&self) -> Vec<Trace> {
        self.lock().iter().map(|t| (**t).clone()).collect()
    }

    /// The traces whose root key is `key`.
    pub fn traces_for(&self, key: &str) -> Vec<Trace> {
        self.lock()
            .iter()
            .filter(|t| t.key() == key)
            .map(|t| (**t).clone())
            .collect()
    }

    /// Removes and returns every trace collected so far.
    pub fn take(&self) -> Vec<Trace> {
        std::mem::take(&mut *self.lock())
            .into_iter()
            .map(|t| Arc::try_unwrap(t).unwrap_or_else(|t| (*t).clone()))
            .collect()
    }

    /// How many traces were collected.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Trace>>> {
        // A panic elsewhere while holding the lock leaves a valid Vec: keep going.
        self.traces.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sink for Collector {
    fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError> {
        self.lock().push(trace);
        Ok(())
    }

    /// Clones share one list, so they are one destination.
    fn identity(&self) -> *const () {
        Arc::as_ptr(&self.traces).cast()
    }
}
