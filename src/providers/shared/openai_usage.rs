//! Token counts as OpenAI's two APIs report them: the same four numbers under
//! each API's own names.

use serde_json::Value;

use super::wire::u64_at;
use crate::model::Usage;

/// Where an OpenAI API puts its token counts, as JSON pointers into its
/// `usage` object. Both report prompt tokens with the cached ones included
/// and output tokens with the reasoning ones included, so the counts map to
/// [`Usage`] as they are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UsageFields {
    /// The prompt tokens, cached ones included.
    pub(crate) input: &'static str,
    /// The output tokens, reasoning ones included.
    pub(crate) output: &'static str,
    /// The prompt tokens read from the cache.
    pub(crate) cached: &'static str,
    /// The output tokens spent on reasoning.
    pub(crate) reasoning: &'static str,
}

impl UsageFields {
    /// `usage` as [`Usage`]; a missing count is 0, a missing detail `None`.
    pub(crate) fn read(&self, usage: &Value) -> Usage {
        Usage {
            input_tokens: u64_at(usage, self.input).unwrap_or(0),
            output_tokens: u64_at(usage, self.output).unwrap_or(0),
            cached_input_tokens: u64_at(usage, self.cached),
            cache_creation_input_tokens: None,
            reasoning_tokens: u64_at(usage, self.reasoning),
        }
    }
}
