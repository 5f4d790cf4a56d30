use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What is wrong with a cassette key; carried by [`CassetteError::InvalidKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyProblem {
    /// The key is the empty string.
    Empty,
    /// The key is longer than [`MAX_KEY_BYTES`](super::MAX_KEY_BYTES).
    TooLong {
        /// The key's length in bytes.
        len: usize,
    },
    /// The key starts with `/`.
    Absolute,
    /// The key holds a backslash (a Windows path separator).
    Backslash,
    /// The key holds a NUL byte.
    Nul,
    /// A segment is empty: the key starts or ends with `/`, or holds `//`.
    EmptySegment {
        /// The segment's position, from 0.
        index: usize,
    },
    /// A segment is `.` or `..`.
    DotSegment {
        /// The segment.
        segment: String,
    },
    /// A segment is longer than [`MAX_SEGMENT_BYTES`](super::MAX_SEGMENT_BYTES).
    SegmentTooLong {
        /// The segment's position, from 0.
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// A character outside `[A-Za-z0-9._-]`.
    BadCharacter {
        /// The character.
        ch: char,
        /// Its byte offset in the key.
        at: usize,
    },
    /// A segment ends with `.`, which Windows silently drops from file names.
    TrailingDot {
        /// The segment.
        segment: String,
    },
    /// A segment is a name Windows reserves for a device (`CON`, `NUL`, `COM1`, ...),
    /// so the store could not be checked out there.
    ReservedName {
        /// The segment.
        segment: String,
    },
    /// The first segment is the folder where tracedeck keeps its own
    /// bookkeeping inside a store ([`LEDGER_ROOT`](super::LEDGER_ROOT),
    /// `.tracedeck`: the usage ledger and the lookup index), in any case.
    Bookkeeping {
        /// The segment.
        segment: String,
    },
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the key is empty"),
            Self::TooLong { len } => write!(
                f,
                "the key is {len} bytes long; the limit is {} bytes",
                super::MAX_KEY_BYTES
            ),
            Self::Absolute => write!(f, "the key starts with `/`; keys are relative"),
            Self::Backslash => write!(f, "the key holds a backslash; separate segments with `/`"),
            Self::Nul => write!(f, "the key holds a NUL byte"),
            Self::EmptySegment { index } => write!(
                f,
                "segment {index} is empty (a leading, trailing or doubled `/`)"
            ),
            Self::DotSegment { segment } => {
                write!(f, "segment `{segment}` would leave or repeat its folder")
            }
            Self::SegmentTooLong { index, len } => write!(
                f,
                "segment {index} is {len} bytes long; the limit is {} bytes",
                super::MAX_SEGMENT_BYTES
            ),
            Self::BadCharacter { ch, at } => write!(
                f,
                "character {ch:?} at byte {at} is not allowed; use only A-Z a-z 0-9 . _ - and `/` between segments"
            ),
            Self::TrailingDot { segment } => write!(
                f,
                "segment `{segment}` ends with `.`, which Windows drops from file names"
            ),
            Self::ReservedName { segment } => write!(
                f,
                "segment `{segment}` is a device name reserved on Windows"
            ),
            Self::Bookkeeping { segment } => write!(
                f,
                "segment `{segment}` is the folder where tracedeck keeps its usage ledger and lookup index"
            ),
        }
    }
}

/// Everything that can go wrong reading or writing a cassette store.
///
/// Every variant about a file names it: `err.path()` returns it and the
/// message starts with it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CassetteError {
    /// The key is not a valid cassette key (see [`validate_key`](super::validate_key)).
    #[error("invalid cassette key {key:?}: {problem}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        problem: KeyProblem,
    },
    /// A hash given to [`Store::load`](super::Store::load) is not 4 to 64 hex digits.
    #[error("invalid cassette hash {hash:?}: expected 4 to 64 hex digits")]
    InvalidHash {
        /// The hash as given.
        hash: String,
    },
    /// No cassette's hash starts with the given hash.
    #[error("no cassette with hash `{hash}` in {}", dir.display())]
    NotFound {
        /// The hash or prefix searched.
        hash: String,
        /// The store's folder.
        dir: PathBuf,
    },
    /// More than one cassette's hash starts with the given prefix.
    #[error("hash prefix `{prefix}` matches {} cassettes ({}); give more digits", matches.len(), list_paths(matches))]
    AmbiguousHash {
        /// The prefix searched.
        prefix: String,
        /// Every matching file.
        matches: Vec<PathBuf>,
    },
    /// A redaction path is not a JSON Pointer (from [`Redaction::try_path`](super::Redaction::try_path)).
    #[error("invalid redaction path {pointer:?}: {problem}")]
    InvalidPointer {
        /// The path as given.
        pointer: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A trace handed to [`Store::write`](super::Store::write) is malformed.
    #[error("cannot store trace `{key}`: {problem}")]
    InvalidTrace {
        /// The trace's key (empty if it has no spans).
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A span's `input` or `output` nests arrays and objects deeper than
    /// [`MAX_JSON_DEPTH`](super::MAX_JSON_DEPTH), so the trace is refused:
    /// a cassette that deep could not be read back.
    #[error(
        "cannot store trace `{key}`: the {field} of span {span} nests {} levels deep; the limit is {limit}",
        if *at_least { format!("more than {limit}") } else { depth.to_string() }
    )]
    TooDeep {
        /// The trace's key.
        key: String,
        /// The span's id.
        span: u64,
        /// `"input"` or `"output"`.
        field: &'static str,
        /// How deep it nests (see [`json_depth`](super::json_depth)).
        depth: usize,
        /// Whether `depth` is only a lower bound: [`with_span`](crate::with_span)
        /// stops serializing past the limit, so the true depth is not known.
        at_least: bool,
        /// The limit, [`MAX_JSON_DEPTH`](super::MAX_JSON_DEPTH).
        limit: usize,
    },
    /// A file is larger than the store reads as a cassette (see
    /// [`Store::with_max_file_bytes`](super::Store::with_max_file_bytes)).
    #[error("{}: {} bytes is more than the {limit} bytes a cassette may have; not read", path.display(), size.map_or_else(|| "more than the limit".to_owned(), |s| s.to_string()))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size, when the file system says.
        size: Option<u64>,
        /// The limit.
        limit: u64,
    },
    /// Something named like a cassette (or a key folder) is not a regular
    /// file (or folder): a symbolic link, FIFO, socket or device. It is
    /// never followed or opened.
    #[error("{}: {what}; the store reads only regular files and folders inside its tree", path.display())]
    NotRegular {
        /// The entry.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// A value could not be turned into JSON.
    #[error("cannot serialize to JSON: {source}")]
    Serialize {
        /// serde's error.
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// A file-system operation failed.
    #[error("{}: could not {action}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done, e.g. `create folder`.
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// An object-store operation failed (feature `object-store`).
    #[cfg(feature = "object-store")]
    #[error("{}: could not {action}: {source}", path.display())]
    ObjectStore {
        /// The object, or the prefix being listed, as `prefix/key/hash.json`.
        path: PathBuf,
        /// What was being done, e.g. `put object`.
        action: &'static str,
        /// The object store's error.
        #[source]
        source: Arc<object_store::Error>,
    },
    /// A `.json` file in the store whose name is not `<64 lowercase hex digits>.json`.
    #[error("{}: not a cassette file name; expected `<sha256 of the bytes, 64 lowercase hex digits>.json`", path.display())]
    BadFileName {
        /// The file.
        path: PathBuf,
    },
    /// The file ends in the middle of its JSON: a cut-off write or a shortened file.
    #[error("{}: truncated: the JSON ends early ({source}); delete the file or re-record it", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// The file is not JSON.
    #[error("{}: not JSON: {source}", path.display())]
    NotJson {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// The file is JSON but not a tracedeck cassette (no or another `format`).
    #[error("{}: not a tracedeck cassette: {problem}", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// What is missing or different.
        problem: String,
    },
    /// The cassette has a format version this tracedeck cannot read.
    #[error("{}: cassette format version {found} is not supported (this tracedeck reads version {supported}); upgrade tracedeck or re-record the cassette", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The `version` found, as JSON text.
        found: String,
        /// The version this build reads.
        supported: u64,
    },
    /// The file's bytes do not hash to its name: it was edited, corrupted or renamed.
    #[error("{}: content does not match its name: the bytes hash to {actual}; the file was edited, corrupted or renamed; re-record it or delete it", path.display())]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// The sha256 of the bytes actually found.
        actual: String,
    },
    /// The file's line endings were converted from LF to CRLF — by git's
    /// `core.autocrlf` on checkout (as on Windows) or an editor — so its
    /// bytes no longer hash to its name, though with LF line endings they
    /// do. The fix is to tell git never to convert cassettes, then check
    /// them out again.
    #[error(
        "{}: its line endings were converted to CRLF (by git's `core.autocrlf` on checkout, or an editor): \
         with LF line endings the bytes hash to its name, as they now hash to {actual}. \
         Tell git to leave cassettes alone — add `*.json -text` to the store folder's `.gitattributes` \
         (`Store::open` writes one into a folder it creates) — then check the files out again: \
         `git rm --cached -r {dir} && git checkout HEAD -- {dir}` (or a fresh clone)",
        path.display(),
        dir = path.parent().map_or_else(|| ".".to_owned(), |d| d.display().to_string())
    )]
    LineEndingsConverted {
        /// The file.
        path: PathBuf,
        /// The sha256 of the bytes actually found.
        actual: String,
    },
    /// The cassette's `trace` does not decode as a trace.
    #[error("{}: the trace does not decode: {message}", path.display())]
    BadTrace {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
        /// serde's error, when the trace did not deserialize.
        #[source]
        source: Option<Arc<serde_json::Error>>,
    },
    /// The cassette's trace is keyed differently from the folder it lies in.
    #[error("{}: holds a trace keyed `{trace_key}` but lies in the folder of key `{folder_key}`; move it to `{trace_key}/`", path.display())]
    KeyMismatch {
        /// The file.
        path: PathBuf,
        /// The key its folder stands for.
        folder_key: String,
        /// The key of the trace inside.
        trace_key: String,
    },
    /// The cassette is valid but not byte-for-byte in canonical form (found by
    /// [`Store::verify`](super::Store::verify)); a hand-edited file re-hashed by hand, say.
    #[error("{}: not in canonical form (sorted keys, 2-space indent, trailing newline); load and write it again to normalize it", path.display())]
    NotCanonical {
        /// The file.
        path: PathBuf,
    },
    /// A temporary file left by a write that was interrupted (found by
    /// [`Store::verify`](super::Store::verify); removed once stale by
    /// [`Store::remove_stale_temp_files`](super::Store::remove_stale_temp_files)
    /// and [`Store::open`](super::Store::open)).
    #[error("{}: leftover temporary file of an interrupted write; safe to delete (`tracedeck verify --fix` removes it once stale)", path.display())]
    PartialWrite {
        /// The file.
        path: PathBuf,
    },
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl CassetteError {
    /// The file or folder the error is about, if it is about one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::NotFound { dir: path, .. }
            | Self::Io { path, .. }
            | Self::BadFileName { path }
            | Self::Truncated { path, .. }
            | Self::NotJson { path, .. }
            | Self::UnknownFormat { path, .. }
            | Self::UnsupportedVersion { path, .. }
            | Self::HashMismatch { path, .. }
            | Self::LineEndingsConverted { path, .. }
            | Self::BadTrace { path, .. }
            | Self::KeyMismatch { path, .. }
            | Self::NotCanonical { path }
            | Self::PartialWrite { path }
            | Self::TooLarge { path, .. }
            | Self::NotRegular { path, .. } => Some(path),
            #[cfg(feature = "object-store")]
            Self::ObjectStore { path, .. } => Some(path),
            Self::InvalidKey { .. }
            | Self::InvalidHash { .. }
            | Self::AmbiguousHash { .. }
            | Self::InvalidPointer { .. }
            | Self::InvalidTrace { .. }
            | Self::TooDeep { .. }
            | Self::Serialize { .. } => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            action,
            source: Arc::new(source),
        }
    }
}

impl From<crate::json::JsonError> for CassetteError {
    fn from(error: crate::json::JsonError) -> Self {
        match error {
            crate::json::JsonError::Serialize { source } => Self::Serialize { source },
            crate::json::JsonError::InvalidPointer { pointer, problem } => {
                Self::InvalidPointer { pointer, problem }
            }
        }
    }
}

#[cfg(test)]
mod source_tests {
    use std::error::Error;
    use std::path::Path;

    use super::CassetteError;
    use crate::cassette::canonical_json;
    use crate::cassette::format::parse;

    fn source_of(err: &CassetteError) -> String {
        err.source()
            .unwrap_or_else(|| panic!("{err:?} keeps no source"))
            .to_string()
    }

    #[test]
    fn parse_and_serialize_errors_keep_serdes_error_as_their_source() {
        let truncated = parse(Path::new("a.json"), b"{\"a\": [1,").unwrap_err();
        assert!(matches!(truncated, CassetteError::Truncated { .. }));
        assert!(source_of(&truncated).contains("EOF"), "{truncated}");

        let not_json = parse(Path::new("a.json"), b"{\"a\": nope}").unwrap_err();
        assert!(matches!(not_json, CassetteError::NotJson { .. }));
        assert!(source_of(&not_json).contains("line 1"), "{not_json}");
        assert!(not_json.to_string().contains(&source_of(&not_json)));

        let map: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let unserializable = CassetteError::from(canonical_json(&map).unwrap_err());
        assert!(matches!(unserializable, CassetteError::Serialize { .. }));
        assert!(!source_of(&unserializable).is_empty());
    }
}
