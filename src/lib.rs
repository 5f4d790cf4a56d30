//! tracedeck
#![warn(missing_docs)]

pub mod context;
pub mod model;
pub mod providers;
pub mod record;
pub mod span;
pub mod testing;

pub use context::{InSpan, current_span, spawn, with_span};
pub use model::{
    ContentPart, FinishKind, FinishReason, ImageSource, Message, Model, ModelError, ModelInfo,
    ModelRequest, ModelResponse, PartStream, ResponseAccumulator, ResponseFormat, Role, Settings,
    StreamPart, ToolCall, ToolChoice, ToolDefinition, Usage,
};
pub use providers::{Anthropic, OpenAi, OpenAiResponses};
pub use record::{Collector, FlushReport, Recorder, Sink, SinkError, SpanContext};
pub use span::{RecordedPart, Span, SpanId, SpanKind, SpanStatus, Timing, Trace, TraceSnapshot};
pub use testing::{Script, ScriptedModel};
