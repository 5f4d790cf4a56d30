use serde_json::Value;

use crate::model::Usage;
use crate::providers::wire::u64_at;

/// A Responses API `usage` object as [`Usage`]: `input_tokens` (cached ones
/// included), `output_tokens` (reasoning ones included),
/// `input_tokens_details.cached_tokens` and
/// `output_tokens_details.reasoning_tokens`.
pub(crate) fn responses_usage(usage: &Value) -> Usage {
    Usage {
        input_tokens: u64_at(usage, "/input_tokens").unwrap_or(0),
        output_tokens: u64_at(usage, "/output_tokens").unwrap_or(0),
        cached_input_tokens: u64_at(usage, "/input_tokens_details/cached_tokens"),
        cache_creation_input_tokens: None,
        reasoning_tokens: u64_at(usage, "/output_tokens_details/reasoning_tokens"),
    }
}
