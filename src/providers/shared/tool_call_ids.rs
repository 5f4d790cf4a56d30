//! The tool calls a stream has opened, by the index its events name them
//! with: a Chat Completions `tool_calls[].index`, an Anthropic content block
//! `index`. Argument pieces name only the index; this finds their call.

use crate::model::StreamPart;

/// Tool-call ids by stream index. An index may be reused by a later call
/// (some servers number every call 0): the latest call opened at an index is
/// the one its pieces belong to.
#[derive(Debug, Clone, Default)]
pub(crate) struct ToolCallIds(Vec<(u64, String)>);

impl ToolCallIds {
    /// Records that the call `id` opened at `index`.
    pub(crate) fn open(&mut self, index: u64, id: String) {
        self.0.push((index, id));
    }

    /// The id of the latest call opened at `index`.
    pub(crate) fn at(&self, index: u64) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(i, _)| *i == index)
            .map(|(_, id)| id.as_str())
    }

    /// An argument piece sent for `index`, as a delta of its call (of id ""
    /// when no call was opened there).
    pub(crate) fn delta(&self, index: u64, arguments: &str) -> StreamPart {
        StreamPart::ToolCallDelta {
            id: self.at(index).unwrap_or_default().to_owned(),
            arguments: arguments.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_go_to_the_latest_call_at_their_index() {
        let mut calls = ToolCallIds::default();
        calls.open(0, "a".into());
        calls.open(1, "b".into());
        calls.open(0, "c".into());
        assert_eq!(calls.at(0), Some("c"));
        assert_eq!(calls.at(1), Some("b"));
        assert_eq!(calls.at(2), None);
        assert_eq!(
            calls.delta(2, "{}"),
            StreamPart::ToolCallDelta {
                id: String::new(),
                arguments: "{}".into()
            }
        );
    }
}
