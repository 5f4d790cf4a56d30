use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{FinishReason, ModelInfo, Usage};

/// A tool call in a model's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON. Arguments that did not parse as JSON are kept
    /// as a JSON string holding the raw text.
    pub arguments: Value,
}

/// A model's whole answer to one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResponse {
    /// The visible text.
    #[serde(default)]
    pub text: String,
    /// Reasoning text, where the provider exposes it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reasoning: String,
    /// A refusal, where the provider reports one apart from the text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub refusal: String,
    /// Tool calls, in output order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Why generation stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// The model that actually served the call.
    pub model: ModelInfo,
}

impl ModelResponse {
    /// A response of plain text from `model`.
    pub fn text(model: ModelInfo, text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            reasoning: String::new(),
            refusal: String::new(),
            tool_calls: Vec::new(),
            usage: None,
            finish_reason: Some(FinishReason::stop()),
            model,
        }
    }
}
