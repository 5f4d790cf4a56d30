use super::ModelInfo;

/// What a model says about a call it has just started, for a
/// [`Recorder`](crate::Recorder) wrapped around it; returned by
/// [`Model::generate_noted`](super::Model::generate_noted) and
/// [`Model::stream_noted`](super::Model::stream_noted).
///
/// Most models have nothing to say (the default note changes nothing). A
/// replaying model says which recorded call it serves, so a recording made
/// through several recorders replays to the same span tree, and that the
/// call was replayed, so a recorder that writes only live traffic (the
/// `Auto` mode of [`CassetteModel`](crate::CassetteModel)) can leave
/// traces served entirely from cassettes alone.
///
/// ```
/// use tracedeck::model::{CallNote, ModelInfo};
/// let note = CallNote::replayed().key("planner").model(ModelInfo::new("openai", "gpt-4o"));
/// assert_eq!(note.key.as_deref(), Some("planner"));
/// assert!(note.replayed);
/// assert_eq!(CallNote::default(), CallNote::new());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallNote {
    /// The key the call's span takes instead of the recorder's own key.
    pub key: Option<String>,
    /// The model the call's span names instead of the model's
    /// [`info`](super::Model::info).
    pub model: Option<ModelInfo>,
    /// Whether the call was served from a recording rather than made live.
    pub replayed: bool,
}

impl CallNote {
    /// A note that changes nothing: the call is live, recorded as the recorder says.
    pub fn new() -> Self {
        Self::default()
    }

    /// A note for a call served from a recording.
    pub fn replayed() -> Self {
        Self {
            replayed: true,
            ..Self::default()
        }
    }

    /// Records the call's span under `key`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Names `model` on the call's span.
    pub fn model(mut self, model: ModelInfo) -> Self {
        self.model = Some(model);
        self
    }
}
