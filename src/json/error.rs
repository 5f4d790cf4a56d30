/// Why a JSON helper failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// A value does not serialize to JSON (a map with non-string keys, say).
    #[error("cannot serialize to JSON: {message}")]
    Serialize {
        /// serde_json's message.
        message: String,
    },
    /// A text is not a JSON Pointer (RFC 6901).
    #[error("invalid JSON pointer {pointer:?}: {problem}")]
    InvalidPointer {
        /// The pointer as given.
        pointer: String,
        /// What is wrong with it.
        problem: String,
    },
}
