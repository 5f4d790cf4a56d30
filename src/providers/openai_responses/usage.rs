use serde_json::Value;

use crate::model::Usage;
use crate::providers::openai_usage::UsageFields;

/// Where the Responses API puts its token counts.
const FIELDS: UsageFields = UsageFields {
    input: "/input_tokens",
    output: "/output_tokens",
    cached: "/input_tokens_details/cached_tokens",
    reasoning: "/output_tokens_details/reasoning_tokens",
};

/// A Responses API `usage` object as [`Usage`].
pub(crate) fn responses_usage(usage: &Value) -> Usage {
    FIELDS.read(usage)
}
