//! The model boundary: the [`Model`] trait every provider, wrapper and test
//! double implements, and the request, response and stream-part types that
//! cross it.
//!
//! Everything here is plain data that serializes with serde, so a call can be
//! recorded into a cassette and served back byte for byte.

mod accumulator;
mod call_note;
mod error;
mod finish;
mod info;
mod request;
mod response;
mod stream_part;
mod usage;

pub use accumulator::ResponseAccumulator;
pub use call_note::CallNote;
pub use error::ModelError;
pub use finish::{FinishKind, FinishReason};
pub use info::ModelInfo;
pub use request::{
    ContentPart, ImageSource, Message, ModelRequest, ResponseFormat, Role, Settings, ToolChoice,
    ToolDefinition,
};
pub use response::{ModelResponse, ToolCall};
pub use stream_part::StreamPart;
pub use usage::Usage;

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;

/// The stream of parts a [`Model::stream`] call yields once the stream is open.
pub type PartStream = BoxStream<'static, Result<StreamPart, ModelError>>;

/// A language model: anything that can answer a [`ModelRequest`], in one piece
/// ([`generate`](Model::generate)) or as a stream of parts ([`stream`](Model::stream)).
///
/// Providers ([`crate::providers`]), the [`Recorder`](crate::Recorder)
/// middleware, the replaying [`Player`](crate::Player) and the test double
/// [`ScriptedModel`](crate::ScriptedModel) all implement it, so they stack:
/// `Recorder<Player>` records a replay, `Recorder<Arc<dyn Model>>` records any model.
///
/// The returned futures are `'static`: an implementation clones what it needs
/// out of `&self` before it returns, so a call never borrows the model.
pub trait Model: Send + Sync {
    /// The provider and model id this model serves.
    fn info(&self) -> ModelInfo;

    /// Answers `req` in one piece.
    fn generate(&self, req: ModelRequest) -> BoxFuture<'static, Result<ModelResponse, ModelError>>;

    /// Opens a stream of parts answering `req`.
    ///
    /// The future resolves when the stream is open (for HTTP: when the
    /// response headers arrive); opening can fail before any part arrives.
    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>>;

    /// Whether a call may go to a live service (the network), so that its
    /// timing is real time. The HTTP adapters in
    /// [`providers`](crate::providers) say yes; test doubles and replaying
    /// models (the default) say no. Wrappers answer for what they wrap.
    ///
    /// A [`Recorder`](crate::Recorder) around a live model checks tokio's
    /// clock against the real clock across each live call: a call made
    /// while tokio's clock is paused would record invented times, so its
    /// trace is refused with [`SinkError::PausedClock`](crate::sink::SinkError::PausedClock)
    /// (reported by `flush()`; the call itself still succeeds).
    ///
    /// **Implement it** (return `true`) for your own model that calls a
    /// network service: the default, `false`, is right for test doubles and
    /// replays, and it turns the paused-clock check off.
    fn is_live(&self) -> bool {
        false
    }

    /// Starts [`generate`](Model::generate) and says how a
    /// [`Recorder`](crate::Recorder) wrapped around this model should record
    /// the call (see [`CallNote`]). A recorder calls this instead of
    /// `generate`. The default starts `generate` with a note that changes
    /// nothing; only models that replay recordings override it.
    fn generate_noted(
        &self,
        req: ModelRequest,
    ) -> (
        BoxFuture<'static, Result<ModelResponse, ModelError>>,
        CallNote,
    ) {
        (self.generate(req), CallNote::default())
    }

    /// Starts [`stream`](Model::stream) and says how a
    /// [`Recorder`](crate::Recorder) wrapped around this model should record
    /// the call; see [`generate_noted`](Model::generate_noted).
    fn stream_noted(
        &self,
        req: ModelRequest,
    ) -> (BoxFuture<'static, Result<PartStream, ModelError>>, CallNote) {
        (self.stream(req), CallNote::default())
    }
}

/// `Model` for a smart pointer to a model: every method forwards, so
/// `Arc<dyn Model>` and `Box<dyn Model>` are models too.
macro_rules! forward_model {
    ($pointer:ident) => {
        impl<M: Model + ?Sized> Model for $pointer<M> {
            fn info(&self) -> ModelInfo {
                (**self).info()
            }
            fn is_live(&self) -> bool {
                (**self).is_live()
            }
            fn generate(
                &self,
                req: ModelRequest,
            ) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
                (**self).generate(req)
            }
            fn stream(
                &self,
                req: ModelRequest,
            ) -> BoxFuture<'static, Result<PartStream, ModelError>> {
                (**self).stream(req)
            }
            fn generate_noted(
                &self,
                req: ModelRequest,
            ) -> (
                BoxFuture<'static, Result<ModelResponse, ModelError>>,
                CallNote,
            ) {
                (**self).generate_noted(req)
            }
            fn stream_noted(
                &self,
                req: ModelRequest,
            ) -> (BoxFuture<'static, Result<PartStream, ModelError>>, CallNote) {
                (**self).stream_noted(req)
            }
        }
    };
}

forward_model!(Arc);
forward_model!(Box);
