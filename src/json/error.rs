/// Why a JSON helper failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// A value does not serialize to JSON (a map with non-string keys, say).
    #[error("cannot serialize to JSON: {source}")]
    Serialize {
        /// serde_json's error.
        #[source]
        source: std::sync::Arc<serde_json::Error>,
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
