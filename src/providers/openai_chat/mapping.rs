//! What Chat Completions' own fields mean in tracedeck's terms: the finish
//! reason, the token counts and the reasoning text, the same in a whole
//! response and a stream.

use serde_json::Value;

use crate::model::{FinishKind, FinishReason, Usage};
use crate::providers::shared::openai_usage::UsageFields;
use crate::providers::shared::wire::text_of;

/// A Chat Completions `finish_reason`, normalized; the string is kept as it
/// came. A stream that ended without one gets kind `Other` and an empty string.
pub(crate) fn chat_finish(raw: &str) -> FinishReason {
    let kind = match raw {
        "stop" => FinishKind::Stop,
        "length" => FinishKind::Length,
        "tool_calls" | "function_call" => FinishKind::ToolCalls,
        "content_filter" => FinishKind::ContentFilter,
        "error" => FinishKind::Error,
        _ => FinishKind::Other,
    };
    FinishReason::new(kind, raw)
}

/// Where Chat Completions puts its token counts.
const USAGE_FIELDS: UsageFields = UsageFields {
    input: "/prompt_tokens",
    output: "/completion_tokens",
    cached: "/prompt_tokens_details/cached_tokens",
    reasoning: "/completion_tokens_details/reasoning_tokens",
};

/// A Chat Completions `usage` object as [`Usage`].
pub(crate) fn chat_usage(usage: &Value) -> Usage {
    USAGE_FIELDS.read(usage)
}

/// The reasoning text of a delta or message. Servers name it
/// `reasoning_content` (DeepSeek, vLLM, llama.cpp) or `reasoning`
/// (OpenRouter, newer vLLM), and some send both with the same text: the
/// first non-empty one counts, so it is never doubled.
pub(crate) fn reasoning_text(delta: &Value) -> Option<String> {
    ["reasoning_content", "reasoning"]
        .iter()
        .filter_map(|key| delta.get(key).map(text_of))
        .find(|text| !text.is_empty())
}
