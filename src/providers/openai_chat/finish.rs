use crate::model::{FinishKind, FinishReason};

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
