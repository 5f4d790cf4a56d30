use serde::{Deserialize, Serialize};

/// Token counts for one call, as the provider last reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u64,
    /// Completion tokens, reasoning tokens included.
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's cache, where reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_tokens: Option<u64>,
    /// Prompt tokens written to the provider's cache, where reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Completion tokens spent on reasoning, where reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// Usage with just input and output counts.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            ..Self::default()
        }
    }

    /// Input plus output tokens, saturating at `u64::MAX` (the counts come
    /// from providers and are not trusted to be small).
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_tokens_saturates_instead_of_overflowing() {
        assert_eq!(Usage::new(2, 3).total_tokens(), 5);
        assert_eq!(Usage::new(u64::MAX, 1).total_tokens(), u64::MAX);
    }
}
