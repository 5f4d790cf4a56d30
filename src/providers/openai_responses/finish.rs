use serde_json::Value;

use crate::model::{FinishKind, FinishReason};
use crate::providers::wire::{non_empty, str_at};

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
