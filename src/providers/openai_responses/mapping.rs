//! What the Responses API's own fields mean in tracedeck's terms: a
//! response's status as the finish reason, and its token counts, the same in
//! a whole response and a stream.

use serde_json::Value;

use crate::model::{FinishKind, FinishReason, Usage};
use crate::providers::shared::openai_usage::UsageFields;
use crate::providers::shared::wire::{non_empty, str_at};

/// Why a Responses API response ended. The raw string is the response's
/// `status` (`completed`), or for an `incomplete` one the reason it gives
/// (`max_output_tokens`, `content_filter`). A completed response that called
/// tools is [`FinishKind::ToolCalls`].
pub(crate) fn responses_finish(
    response: &Value,
    fallback_status: &str,
    called_tools: bool,
) -> FinishReason {
    let status = str_at(response, "status").unwrap_or(fallback_status);
    match status {
        "completed" if called_tools => FinishReason::new(FinishKind::ToolCalls, status),
        "completed" => FinishReason::new(FinishKind::Stop, status),
        "incomplete" => {
            let reason = response
                .get("incomplete_details")
                .and_then(|d| non_empty(d, "reason"));
            let kind = match reason {
                Some("max_output_tokens") => FinishKind::Length,
                Some("content_filter") => FinishKind::ContentFilter,
                _ => FinishKind::Other,
            };
            FinishReason::new(kind, reason.unwrap_or(status))
        }
        "failed" => FinishReason::new(FinishKind::Error, status),
        other => FinishReason::new(FinishKind::Other, other),
    }
}

/// Where the Responses API puts its token counts.
const USAGE_FIELDS: UsageFields = UsageFields {
    input: "/input_tokens",
    output: "/output_tokens",
    cached: "/input_tokens_details/cached_tokens",
    reasoning: "/output_tokens_details/reasoning_tokens",
};

/// A Responses API `usage` object as [`Usage`].
pub(crate) fn responses_usage(usage: &Value) -> Usage {
    USAGE_FIELDS.read(usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_normalize_and_keep_the_providers_string() {
        let done = json!({"status": "completed"});
        assert_eq!(
            responses_finish(&done, "", false),
            FinishReason::new(FinishKind::Stop, "completed")
        );
        assert_eq!(
            responses_finish(&done, "", true).kind,
            FinishKind::ToolCalls
        );
        let cut =
            json!({"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}});
        assert_eq!(
            responses_finish(&cut, "", false),
            FinishReason::new(FinishKind::Length, "max_output_tokens")
        );
        assert_eq!(
            responses_finish(&json!({}), "completed", false).raw,
            "completed"
        );
    }
}
