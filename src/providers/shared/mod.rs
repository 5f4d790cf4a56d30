//! Helpers every protocol folder shares, in one place: reading JSON events
//! and responses ([`wire`]), tool-call ids by stream index
//! ([`tool_call_ids`]), the request body's common fields ([`request_body`])
//! and the rules a conversation must follow ([`message_rules`]), plus what
//! OpenAI's two APIs share ([`openai_request`], [`openai_usage`]).
//!
//! A new protocol (e.g. Gemini) should find what it needs here before
//! writing its own.

#[cfg(feature = "http")]
pub(crate) mod message_rules;
#[cfg(feature = "http")]
pub(crate) mod openai_request;
pub(crate) mod openai_usage;
#[cfg(feature = "http")]
pub(crate) mod request_body;
pub(crate) mod tool_call_ids;
pub(crate) mod wire;
