//! What a message of each role may hold, as all three APIs agree, and the
//! [`AdapterError::Unsupported`] that names the API, the part and the
//! message's place in the body when a request breaks a rule.
//!
//! The rules: tool calls only in assistant messages; tool results never in
//! assistant or system messages; images only in what the API sends as the
//! user's turn.

use crate::model::Role;
use crate::providers::error::AdapterError;

/// A wire API's request body, as errors name it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireRequest {
    /// The API, e.g. `OpenAI Chat Completions`.
    pub(crate) api: &'static str,
    /// The body field the messages go in, e.g. `messages`.
    pub(crate) messages_field: &'static str,
}

impl WireRequest {
    /// A request setting the API has no field for.
    pub(crate) fn unsupported_setting(self, what: &str, hint: &'static str) -> AdapterError {
        AdapterError::Unsupported {
            api: self.api,
            what: what.to_owned(),
            hint,
        }
    }

    /// The message at `index` of the request, of `role`.
    pub(crate) fn message(self, index: usize, role: Role) -> MessageAt {
        MessageAt {
            request: self,
            index,
            role,
        }
    }
}

/// One message of a request being mapped: where it is, and the rules for
/// what its role may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessageAt {
    request: WireRequest,
    index: usize,
    role: Role,
}

impl MessageAt {
    /// `part` (e.g. "an image") cannot go in this message; `hint` says what to
    /// do instead.
    pub(crate) fn unsupported(self, part: &str, hint: &'static str) -> AdapterError {
        AdapterError::Unsupported {
            api: self.request.api,
            what: format!(
                "{part} in {} ({}[{}])",
                role_phrase(self.role),
                self.request.messages_field,
                self.index
            ),
            hint,
        }
    }

    /// A tool call: only the assistant makes them.
    pub(crate) fn check_tool_call(self) -> Result<(), AdapterError> {
        if self.role == Role::Assistant {
            Ok(())
        } else {
            Err(self.unsupported("a tool call", "tool calls belong in assistant messages"))
        }
    }

    /// A tool result: never from the assistant or the system.
    pub(crate) fn check_tool_result(self) -> Result<(), AdapterError> {
        if matches!(self.role, Role::Assistant | Role::System) {
            Err(self.unsupported(
                "a tool result",
                "send tool results in a tool or user message",
            ))
        } else {
            Ok(())
        }
    }

    /// An image: only in a message the API sends as the user's turn, which
    /// `in_user_turn` says (a user message; for Anthropic a tool message too,
    /// as its results go in user turns).
    pub(crate) fn check_image(self, in_user_turn: bool) -> Result<(), AdapterError> {
        if in_user_turn {
            Ok(())
        } else {
            Err(self.unsupported("an image", "images can only be sent in user messages"))
        }
    }
}

/// "a user message", "an assistant message", ... for error messages.
fn role_phrase(role: Role) -> &'static str {
    match role {
        Role::System => "a system message",
        Role::User => "a user message",
        Role::Assistant => "an assistant message",
        Role::Tool => "a tool message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT: WireRequest = WireRequest {
        api: "OpenAI Chat Completions",
        messages_field: "messages",
    };

    #[test]
    fn errors_name_the_api_the_part_the_role_and_the_place() {
        let err = CHAT.message(3, Role::User).check_tool_call().unwrap_err();
        assert_eq!(
            err.to_string(),
            "OpenAI Chat Completions cannot express a tool call in a user message (messages[3]); \
             tool calls belong in assistant messages"
        );
    }

    #[test]
    fn each_role_holds_what_the_rules_allow() {
        for role in [Role::System, Role::User, Role::Assistant, Role::Tool] {
            let at = CHAT.message(0, role);
            assert_eq!(at.check_tool_call().is_ok(), role == Role::Assistant);
            assert_eq!(
                at.check_tool_result().is_ok(),
                matches!(role, Role::User | Role::Tool)
            );
            assert!(at.check_image(true).is_ok());
            assert!(at.check_image(false).is_err());
        }
    }
}
