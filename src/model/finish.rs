use serde::{Deserialize, Serialize};

/// Why generation stopped, normalized across providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FinishKind {
    /// A natural stop or a stop sequence.
    Stop,
    /// The token limit was reached.
    Length,
    /// The model called one or more tools.
    ToolCalls,
    /// A content filter stopped the output.
    ContentFilter,
    /// The provider reported an error.
    Error,
    /// Anything else; see [`FinishReason::raw`].
    Other,
}

/// Why generation stopped: the normalized [`FinishKind`] and the provider's
/// own string (`stop`, `tool_calls`, `end_turn`, `tool_use`, `completed`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FinishReason {
    /// The normalized reason.
    pub kind: FinishKind,
    /// The provider's own string, unchanged.
    pub raw: String,
}

impl FinishReason {
    /// A reason with an explicit kind and provider string.
    pub fn new(kind: FinishKind, raw: impl Into<String>) -> Self {
        Self {
            kind,
            raw: raw.into(),
        }
    }

    /// A natural stop (`"stop"`).
    pub fn stop() -> Self {
        Self::new(FinishKind::Stop, "stop")
    }

    /// A stop for tool calls (`"tool_calls"`).
    pub fn tool_calls() -> Self {
        Self::new(FinishKind::ToolCalls, "tool_calls")
    }

    /// A stop at the token limit (`"length"`).
    pub fn length() -> Self {
        Self::new(FinishKind::Length, "length")
    }
}
