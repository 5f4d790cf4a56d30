//! Output items that are tool calls: which ones, where their input is and
//! the id their results answer to, the same in a whole response and a stream.

use serde_json::Value;

use crate::providers::shared::wire::{non_empty, str_at};

/// The field holding a tool-call item's input, if the item is a tool call:
/// a `function_call`'s `arguments` or a `custom_tool_call`'s `input`.
pub(super) fn tool_input_key(item: &Value) -> Option<&'static str> {
    match str_at(item, "type") {
        Some("function_call") => Some("arguments"),
        Some("custom_tool_call") => Some("input"),
        _ => None,
    }
}

/// A tool-call item's call id (what its result must name): its `call_id`,
/// else its item `id`, else empty.
pub(super) fn call_id(item: &Value) -> String {
    non_empty(item, "call_id")
        .or_else(|| non_empty(item, "id"))
        .unwrap_or_default()
        .to_owned()
}
