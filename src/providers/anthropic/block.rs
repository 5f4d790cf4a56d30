//! A content block as parts: the same whether it comes whole in a response
//! or opens with a stream's `content_block_start`.

use serde_json::Value;

use crate::model::StreamPart;
use crate::providers::shared::wire::{non_empty, str_at};

/// Appends what `block` holds to `out`: its text, thinking or redacted
/// thinking; for a tool-use block (`tool_use`, `server_tool_use`,
/// `mcp_tool_use`) a [`StreamPart::ToolCallStart`], returning the call's id
/// so the caller can add the input as it has it (whole in a response, in
/// `input_json_delta` pieces in a stream). Other blocks add nothing.
pub(super) fn block_parts(block: &Value, out: &mut Vec<StreamPart>) -> Option<String> {
    match str_at(block, "type") {
        Some("text") => {
            if let Some(text) = non_empty(block, "text") {
                out.push(StreamPart::text(text));
            }
        }
        Some("thinking") => {
            if let Some(text) = non_empty(block, "thinking") {
                out.push(StreamPart::reasoning(text));
            }
        }
        Some("redacted_thinking") => out.push(StreamPart::RedactedReasoning {
            data: str_at(block, "data").unwrap_or_default().to_owned(),
        }),
        Some("tool_use" | "server_tool_use" | "mcp_tool_use") => {
            let id = str_at(block, "id").unwrap_or_default().to_owned();
            out.push(StreamPart::ToolCallStart {
                id: id.clone(),
                name: str_at(block, "name").unwrap_or_default().to_owned(),
            });
            return Some(id);
        }
        _ => {}
    }
    None
}
