use crate::model::{FinishKind, FinishReason};

/// An Anthropic `stop_reason`, normalized; the string is kept as it came.
pub(crate) fn anthropic_finish(raw: &str) -> FinishReason {
    let kind = match raw {
        "end_turn" | "stop_sequence" => FinishKind::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishKind::Length,
        "tool_use" => FinishKind::ToolCalls,
        "refusal" => FinishKind::ContentFilter,
        _ => FinishKind::Other,
    };
    FinishReason::new(kind, raw)
}
