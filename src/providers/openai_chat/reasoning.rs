use serde_json::Value;

use crate::providers::wire::text_of;

/// The reasoning text of a delta or message. Servers name it
/// `reasoning_content` (DeepSeek, vLLM, llama.cpp) or `reasoning`
/// (OpenRouter, newer vLLM), and some send both with the same text: the
/// first non-empty one counts, so it is never doubled.
pub(crate) fn reasoning_text(delta: &Value) -> Option<String> {
    ["reasoning_content", "reasoning"]
        .iter()
        .filter_map(|key| delta.get(key).map(text_of))
        .find(|text| !text.is_empty())
}
