use serde_json::Value;

use crate::model::Usage;
use crate::providers::openai_usage::UsageFields;

/// Where Chat Completions puts its token counts.
const FIELDS: UsageFields = UsageFields {
    input: "/prompt_tokens",
    output: "/completion_tokens",
    cached: "/prompt_tokens_details/cached_tokens",
    reasoning: "/completion_tokens_details/reasoning_tokens",
};

/// A Chat Completions `usage` object as [`Usage`].
pub(crate) fn chat_usage(usage: &Value) -> Usage {
    FIELDS.read(usage)
}
