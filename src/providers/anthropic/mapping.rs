//! What the Messages API's own fields mean in tracedeck's terms: the stop
//! reason and the token counts, the same in a whole response and a stream.

use serde_json::Value;

use crate::model::{FinishKind, FinishReason, Usage};
use crate::providers::shared::wire::u64_at;

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

/// Anthropic's token counts as they stand after `message_start` and any
/// `message_delta`s: each report overrides the fields it carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AnthropicUsage {
    input: Option<u64>,
    output: Option<u64>,
    cache_read: Option<u64>,
    cache_creation: Option<u64>,
}

impl AnthropicUsage {
    /// Takes the fields `usage` reports.
    pub(crate) fn update(&mut self, usage: &Value) {
        let field = |name: &str| u64_at(usage, &format!("/{name}"));
        self.input = field("input_tokens").or(self.input);
        self.output = field("output_tokens").or(self.output);
        self.cache_read = field("cache_read_input_tokens").or(self.cache_read);
        self.cache_creation = field("cache_creation_input_tokens").or(self.cache_creation);
    }

    /// As [`Usage`]. Anthropic's `input_tokens` leave out the prompt tokens
    /// read from or written to its cache; [`Usage::input_tokens`] counts
    /// every prompt token, so those are added back, and also kept apart in
    /// `cached_input_tokens` and `cache_creation_input_tokens`.
    pub(crate) fn to_usage(self) -> Usage {
        // Provider numbers: saturate rather than overflow (a panic in debug
        // builds, a wrap in release).
        let input = self
            .input
            .unwrap_or(0)
            .saturating_add(self.cache_read.unwrap_or(0))
            .saturating_add(self.cache_creation.unwrap_or(0));
        Usage {
            input_tokens: input,
            output_tokens: self.output.unwrap_or(0),
            cached_input_tokens: self.cache_read,
            cache_creation_input_tokens: self.cache_creation,
            reasoning_tokens: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cache_counts_at_the_limit_saturate_instead_of_overflowing() {
        let mut usage = AnthropicUsage::default();
        usage.update(&json!({"input_tokens": 5, "cache_creation_input_tokens": u64::MAX, "cache_read_input_tokens": 3}));
        let usage = usage.to_usage();
        assert_eq!(usage.input_tokens, u64::MAX);
        assert_eq!(usage.cache_creation_input_tokens, Some(u64::MAX));
    }

    #[test]
    fn deltas_override_only_what_they_report_and_cache_reads_count_as_input() {
        let mut usage = AnthropicUsage::default();
        usage.update(&json!({"input_tokens": 9, "output_tokens": 1, "cache_read_input_tokens": 4202, "cache_creation_input_tokens": 0}));
        usage.update(&json!({"output_tokens": 5}));
        assert_eq!(
            usage.to_usage(),
            Usage {
                input_tokens: 4211,
                output_tokens: 5,
                cached_input_tokens: Some(4202),
                cache_creation_input_tokens: Some(0),
                reasoning_tokens: None,
            }
        );
    }
}
