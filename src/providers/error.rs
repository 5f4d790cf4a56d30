use crate::model::ModelError;

/// What an adapter rejects before anything is sent: missing configuration,
/// or a request the provider's wire format cannot express.
///
/// A call turns it into [`ModelError::Config`] with the same text, so it is
/// recorded like any other failed call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// A call would go to the network, but `from_env` found no API key in
    /// the environment. Raised by the first live call, never when the
    /// adapter is built: replaying cassettes needs no key.
    #[error(
        "{adapter}: this call needs an API key, but the environment variable {variable} is \
         not set; set it (or build the adapter with `.api_key(..)`) to make live calls. \
         Replaying cassettes needs no key: on CI (`CI` set) a `CassetteModel` replays"
    )]
    MissingApiKey {
        /// The adapter, e.g. `OpenAi`.
        adapter: &'static str,
        /// The variable read, e.g. `OPENAI_API_KEY`.
        variable: &'static str,
    },
    /// The base URL is not an absolute `http`/`https` URL.
    #[error("{adapter}: base URL `{url}` is not usable: {reason}")]
    InvalidBaseUrl {
        /// The adapter.
        adapter: &'static str,
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An extra header set with `.header(..)` is not a valid HTTP header.
    #[error("{adapter}: header `{name}` cannot be sent: {reason}")]
    InvalidHeader {
        /// The adapter.
        adapter: &'static str,
        /// The header's name (its value is never shown: it may be a credential).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request holds something this wire format has no place for.
    #[error("{api} cannot express {what}; {hint}")]
    Unsupported {
        /// The wire API, e.g. `OpenAI Chat Completions`.
        api: &'static str,
        /// What cannot be sent, and where in the request it is.
        what: String,
        /// What to do instead.
        hint: &'static str,
    },
}

impl From<AdapterError> for ModelError {
    fn from(err: AdapterError) -> Self {
        ModelError::Config {
            message: err.to_string(),
        }
    }
}
