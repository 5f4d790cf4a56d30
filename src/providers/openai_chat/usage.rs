use serde_json::Value;

use crate::model::Usage;
use crate::providers::wire::u64_at;

/// A Chat Completions `usage` object as [`Usage`]: `prompt_tokens` (which
/// already include cached ones), `completion_tokens` (which include reasoning
/// ones), `prompt_tokens_details.cached_tokens` and
/// `completion_tokens_details.reasoning_tokens`.
pub(crate) fn chat_usage(usage: &Value) -> Usage {
    Usage {
        input_tokens: u64_at(usage, "/prompt_tokens").unwrap_or(0),
        output_tokens: u64_at(usage, "/completion_tokens").unwrap_or(0),
        cached_input_tokens: u64_at(usage, "/prompt_tokens_details/cached_tokens"),
        cache_creation_input_tokens: None,
        reasoning_tokens: u64_at(usage, "/completion_tokens_details/reasoning_tokens"),
    }
}
