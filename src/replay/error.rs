use crate::cassette::CassetteError;

/// Why setting up or running a replay failed.
///
/// Model calls that find no recording are not `ReplayError`s: they fail with
/// [`ModelError::CassetteMiss`](crate::ModelError::CassetteMiss), like any
/// other model error, so user code handles them where it handles the rest.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// `TRACEDECK_MODE` (or a string parsed as a [`Mode`](crate::Mode)) names no mode.
    #[error(
        "{source_name}=`{value}` is not a tracedeck mode: use `replay`, `record`, `auto` or `passthrough`"
    )]
    InvalidMode {
        /// Where the value came from, e.g. `TRACEDECK_MODE`.
        source_name: String,
        /// The value as given.
        value: String,
    },
    /// A path given to ignore is not a JSON pointer.
    #[error("ignored path `{path}` is not a JSON pointer (RFC 6901): {reason}")]
    InvalidIgnoredPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A replay speed factor is negative, NaN or infinite.
    #[error("replay speed factor {factor} is not a finite number >= 0")]
    InvalidSpeed {
        /// The factor as given.
        factor: f64,
    },
    /// A replay concurrency limit of zero would never run anything.
    #[error("replay concurrency must be at least 1")]
    ZeroConcurrency,
    /// There is nothing recorded under the key to replay.
    #[error(
        "no recorded traces under key `{key}` in {location}: record some first (`replay()` only replays: run the code once against the live model wrapped in a `Recorder` writing to this store, or in a `CassetteModel` in `Mode::Auto` or `Mode::Record`)"
    )]
    NoRecordings {
        /// The key.
        key: String,
        /// Where it was looked for: a store folder, or `the traces given`.
        location: String,
    },
    /// The cassette store failed: an invalid key, an unreadable folder or file.
    #[error(transparent)]
    Cassette(#[from] CassetteError),
}
