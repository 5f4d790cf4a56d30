use serde::{Deserialize, Serialize};

use super::{FinishReason, Role, Usage};

/// One part of a streamed answer, after the Vercel AI SDK's stream parts.
///
/// Parts are *framing* (the stream opening, metadata, keep-alives, block
/// boundaries, usage, the finish) or *content* (text, reasoning, refusal, tool
/// calls). Time-to-first-token is stamped on the first part for which
/// [`is_content`](StreamPart::is_content) is true, never on framing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StreamPart {
    /// The stream opened (framing).
    StreamStart,
    /// Response id and serving model (framing).
    ResponseMetadata {
        /// The provider's response id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The model that serves the call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
    /// A delta that only names the speaker, such as OpenAI's first chunk (framing).
    RoleDelta {
        /// The role.
        role: Role,
    },
    /// A ping or keep-alive (framing).
    KeepAlive,
    /// A content block begins, such as Anthropic's text `content_block_start` (framing).
    BlockStart {
        /// The block's index.
        index: u32,
    },
    /// A content block ends (framing).
    BlockStop {
        /// The block's index.
        index: u32,
    },
    /// Visible text (content when non-empty).
    TextDelta {
        /// The text.
        text: String,
    },
    /// Reasoning text (content when non-empty).
    ReasoningDelta {
        /// The text.
        text: String,
    },
    /// Reasoning the provider keeps encrypted, such as Anthropic's `redacted_thinking` (content).
    RedactedReasoning {
        /// The opaque data.
        data: String,
    },
    /// A refusal (content when non-empty).
    RefusalDelta {
        /// The text.
        text: String,
    },
    /// A tool call begins (content when the name is non-empty).
    ToolCallStart {
        /// The call's id.
        id: String,
        /// The tool's name.
        name: String,
    },
    /// A piece of a tool call's JSON arguments (content when non-empty).
    ToolCallDelta {
        /// The call's id.
        id: String,
        /// The piece of JSON text.
        arguments: String,
    },
    /// Token counts (framing).
    Usage {
        /// The counts.
        usage: Usage,
    },
    /// The end of the answer (framing).
    Finish {
        /// Why generation stopped.
        reason: FinishReason,
        /// Final token counts, where known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
    },
}

impl StreamPart {
    /// A text delta.
    pub fn text(text: impl Into<String>) -> Self {
        Self::TextDelta { text: text.into() }
    }

    /// A reasoning delta.
    pub fn reasoning(text: impl Into<String>) -> Self {
        Self::ReasoningDelta { text: text.into() }
    }

    /// A finish with `reason` and no usage.
    pub fn finish(reason: FinishReason) -> Self {
        Self::Finish {
            reason,
            usage: None,
        }
    }

    /// True only for parts that carry model output: non-empty text, reasoning
    /// or refusal deltas, redacted reasoning, a tool call start with a name, or
    /// a non-empty tool call delta. Framing is never content.
    pub fn is_content(&self) -> bool {
        match self {
            Self::TextDelta { text }
            | Self::ReasoningDelta { text }
            | Self::RefusalDelta { text } => !text.is_empty(),
            Self::RedactedReasoning { .. } => true,
            Self::ToolCallStart { name, .. } => !name.is_empty(),
            Self::ToolCallDelta { arguments, .. } => !arguments.is_empty(),
            Self::StreamStart
            | Self::ResponseMetadata { .. }
            | Self::RoleDelta { .. }
            | Self::KeepAlive
            | Self::BlockStart { .. }
            | Self::BlockStop { .. }
            | Self::Usage { .. }
            | Self::Finish { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FinishReason;

    fn tool_start(name: &str) -> StreamPart {
        StreamPart::ToolCallStart {
            id: "call_1".into(),
            name: name.into(),
        }
    }

    fn tool_delta(arguments: &str) -> StreamPart {
        StreamPart::ToolCallDelta {
            id: "call_1".into(),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn only_non_empty_output_is_content() {
        let content = [
            StreamPart::text("a"),
            StreamPart::text(" "),
            StreamPart::reasoning("think"),
            StreamPart::RefusalDelta { text: "no".into() },
            StreamPart::RedactedReasoning {
                data: String::new(),
            },
            tool_start("search"),
            tool_delta("{"),
        ];
        for part in &content {
            assert!(part.is_content(), "{part:?} is content");
        }
    }

    #[test]
    fn framing_and_empty_deltas_are_never_content() {
        let framing = [
            StreamPart::StreamStart,
            StreamPart::ResponseMetadata {
                id: Some("resp_1".into()),
                model: Some("m".into()),
            },
            StreamPart::RoleDelta {
                role: Role::Assistant,
            },
            StreamPart::KeepAlive,
            StreamPart::BlockStart { index: 0 },
            StreamPart::BlockStop { index: 0 },
            StreamPart::text(""),
            StreamPart::reasoning(""),
            StreamPart::RefusalDelta {
                text: String::new(),
            },
            tool_start(""),
            tool_delta(""),
            StreamPart::Usage {
                usage: Usage::new(1, 2),
            },
            StreamPart::Finish {
                reason: FinishReason::stop(),
                usage: Some(Usage::new(1, 2)),
            },
        ];
        for part in &framing {
            assert!(!part.is_content(), "{part:?} is framing");
        }
    }

    #[test]
    fn parts_serialize_with_a_snake_case_type_tag() {
        let json = serde_json::to_value(StreamPart::text("hi")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "text_delta", "text": "hi"})
        );
        let back: StreamPart = serde_json::from_value(json).unwrap();
        assert_eq!(back, StreamPart::text("hi"));
    }
}
