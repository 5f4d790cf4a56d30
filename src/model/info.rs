use serde::{Deserialize, Serialize};

/// Which provider and model served (or will serve) a call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The provider, e.g. `openai`, `anthropic`, `scripted`.
    pub provider: String,
    /// The model id as the provider names it, e.g. `gpt-4o-mini`.
    pub model: String,
}

impl ModelInfo {
    /// A `ModelInfo` for `provider` and `model`.
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
        }
    }
}

impl std::fmt::Display for ModelInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}
