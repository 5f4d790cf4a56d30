use std::sync::Arc;

use crate::model::{ModelError, StreamPart};

/// An API key. It goes on the wire and nowhere else: its `Debug` shows no
/// part of it, and errors passed through [`ApiKey::scrub`] and parts passed
/// through [`ApiKey::scrub_part`] have any echo of it (a server quoting the
/// key it rejected, or echoing it in a chunk's `id` or `model`) replaced.
///
/// ```
/// use tracedeck::providers::ApiKey;
/// let key = ApiKey::new("sk-test-SECRET-123");
/// assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Arc<str>);

/// Keys shorter than this are not scrubbed from messages: replacing a short
/// placeholder such as `ollama` would mangle text without protecting anything.
const MIN_SCRUB_LEN: usize = 8;

const REDACTED: &str = "<redacted>";

impl ApiKey {
    /// Wraps `key`.
    pub fn new(key: impl Into<String>) -> Self {
        Self(Arc::from(key.into()))
    }

    /// The key itself, for the one place that puts it on the wire.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced by `<redacted>`.
    pub fn scrub_text(&self, text: &str) -> String {
        if self.0.len() >= MIN_SCRUB_LEN && text.contains(&*self.0) {
            text.replace(&*self.0, REDACTED)
        } else {
            text.to_owned()
        }
    }

    /// `err` with every occurrence of the key in its text replaced.
    pub fn scrub(&self, mut err: ModelError) -> ModelError {
        // No wildcard arm: a new variant must say which of its texts to scrub.
        match &mut err {
            ModelError::Provider { kind, message, .. } => {
                *kind = self.scrub_text(kind);
                *message = self.scrub_text(message);
            }
            ModelError::CassetteMiss { detail, .. } => *detail = self.scrub_text(detail),
            ModelError::Http { message, .. }
            | ModelError::Transport { message, .. }
            | ModelError::Truncated { message, .. }
            | ModelError::Decode { message, .. }
            | ModelError::Config { message }
            | ModelError::Other { message } => *message = self.scrub_text(message),
        }
        err
    }
}

impl ApiKey {
    /// `part` with every occurrence of the key in its texts replaced: ids,
    /// model names, deltas, tool call names and arguments, and the raw finish
    /// reason. Adapters pass every decoded part through it, so what the caller
    /// sees and what a recorder writes agree, and neither holds the key.
    pub fn scrub_part(&self, mut part: StreamPart) -> StreamPart {
        let scrub = |text: &mut String| {
            if text.contains(&*self.0) {
                *text = self.scrub_text(text);
            }
        };
        // No wildcard arm: a new variant must say which of its texts to scrub.
        match &mut part {
            StreamPart::ResponseMetadata { id, model } => {
                id.iter_mut().chain(model.iter_mut()).for_each(scrub);
            }
            StreamPart::TextDelta { text }
            | StreamPart::ReasoningDelta { text }
            | StreamPart::RefusalDelta { text }
            | StreamPart::RedactedReasoning { data: text } => scrub(text),
            StreamPart::ToolCallStart { id, name } => {
                scrub(id);
                scrub(name);
            }
            StreamPart::ToolCallDelta { id, arguments } => {
                scrub(id);
                scrub(arguments);
            }
            StreamPart::Finish { reason, .. } => scrub(&mut reason.raw),
            StreamPart::StreamStart
            | StreamPart::RoleDelta { .. }
            | StreamPart::KeepAlive
            | StreamPart::BlockStart { .. }
            | StreamPart::BlockStop { .. }
            | StreamPart::Usage { .. } => {}
        }
        part
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self::new(key)
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self::new(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_replaces_the_key_in_every_message() {
        let key = ApiKey::new("sk-test-SECRET-123");
        let err = ModelError::Http {
            provider: "openai".into(),
            status: 401,
            message: "Incorrect API key provided: sk-test-SECRET-123.".into(),
            retry_after_ms: None,
        };
        let scrubbed = key.scrub(err).to_string();
        assert!(!scrubbed.contains("SECRET"), "{scrubbed}");
        assert!(scrubbed.contains("Incorrect API key provided: <redacted>."));
    }

    #[test]
    fn scrub_part_replaces_the_key_in_every_text_of_a_part() {
        let secret = "sk-test-SECRET-123";
        let key = ApiKey::new(secret);
        let echo = |s: &str| format!("{s}-{secret}");
        let parts = [
            StreamPart::ResponseMetadata {
                id: Some(echo("chatcmpl")),
                model: Some(echo("gpt")),
            },
            StreamPart::text(echo("text")),
            StreamPart::reasoning(echo("think")),
            StreamPart::RefusalDelta { text: echo("no") },
            StreamPart::RedactedReasoning { data: echo("blob") },
            StreamPart::ToolCallStart {
                id: echo("call"),
                name: echo("tool"),
            },
            StreamPart::ToolCallDelta {
                id: echo("call"),
                arguments: echo("{"),
            },
            StreamPart::finish(crate::model::FinishReason::new(
                crate::model::FinishKind::Other,
                echo("odd"),
            )),
        ];
        for part in parts {
            let scrubbed = key.scrub_part(part.clone());
            let json = serde_json::to_string(&scrubbed).unwrap();
            assert!(!json.contains(secret), "{json}");
            assert!(json.contains(REDACTED), "{json}");
        }
        let plain = StreamPart::text("no key here");
        assert_eq!(key.scrub_part(plain.clone()), plain);
    }

    #[test]
    fn short_placeholder_keys_leave_text_alone() {
        let key = ApiKey::new("ollama");
        assert_eq!(key.scrub_text("ollama is up"), "ollama is up");
    }
}
