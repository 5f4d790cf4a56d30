use super::error::{CassetteError, KeyProblem};

/// The longest a key segment may be, in bytes: well under every file
/// system's name limit, with room for nothing else to be appended.
pub const MAX_SEGMENT_BYTES: usize = 128;

/// The longest a whole key may be, in bytes, so that `<dir>/<key>/<hash>.json`
/// stays a usable path everywhere.
pub const MAX_KEY_BYTES: usize = 1024;

/// Names Windows reserves for devices, with or without an extension.
const RESERVED: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Checks that `key` can name a folder of the store, and only a folder
/// inside it.
///
/// A key is one or more `/`-separated segments of `[A-Za-z0-9._-]`, each at
/// most [`MAX_SEGMENT_BYTES`] long, the whole at most [`MAX_KEY_BYTES`].
/// Refused, with [`CassetteError::InvalidKey`] and a [`KeyProblem`]: the
/// empty key, empty segments (`a//b`, `a/`), `.` and `..`, absolute paths,
/// backslashes (`C:\x`), NUL, any other character, and — so a store checks
/// out on every machine — segments ending in `.` and Windows device names
/// (`con`, `nul.txt`, ...); and a first segment `.tracedeck` (in any case),
/// the folder where the store keeps its usage ledger and lookup index.
///
/// ```
/// use tracedeck::cassette::validate_key;
/// assert!(validate_key("chat-turn").is_ok());
/// assert!(validate_key("agents/planner.v2").is_ok());
/// assert!(validate_key("../../etc/x").is_err());
/// assert!(validate_key("a//b").is_err());
/// ```
pub fn validate_key(key: &str) -> Result<(), CassetteError> {
    key_problem(key).map_or(Ok(()), |problem| {
        Err(CassetteError::InvalidKey {
            key: key.to_owned(),
            problem,
        })
    })
}

fn key_problem(key: &str) -> Option<KeyProblem> {
    if key.is_empty() {
        return Some(KeyProblem::Empty);
    }
    if key.len() > MAX_KEY_BYTES {
        return Some(KeyProblem::TooLong { len: key.len() });
    }
    if key.contains('\0') {
        return Some(KeyProblem::Nul);
    }
    if key.contains('\\') {
        return Some(KeyProblem::Backslash);
    }
    if key.starts_with('/') {
        return Some(KeyProblem::Absolute);
    }
    let first = key.split('/').next().unwrap_or(key);
    if first.eq_ignore_ascii_case(super::ledger::LEDGER_ROOT) {
        return Some(KeyProblem::Bookkeeping {
            segment: first.to_owned(),
        });
    }
    let mut offset = 0;
    for (index, segment) in key.split('/').enumerate() {
        if let Some(problem) = segment_problem(segment, index, offset) {
            return Some(problem);
        }
        offset += segment.len() + 1;
    }
    None
}

/// What is wrong with one segment starting at byte `offset` of its key.
fn segment_problem(segment: &str, index: usize, offset: usize) -> Option<KeyProblem> {
    if segment.is_empty() {
        return Some(KeyProblem::EmptySegment { index });
    }
    if segment == "." || segment == ".." {
        return Some(KeyProblem::DotSegment {
            segment: segment.to_owned(),
        });
    }
    if segment.len() > MAX_SEGMENT_BYTES {
        return Some(KeyProblem::SegmentTooLong {
            index,
            len: segment.len(),
        });
    }
    if let Some((at, ch)) = segment
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(KeyProblem::BadCharacter {
            ch,
            at: offset + at,
        });
    }
    if segment.ends_with('.') {
        return Some(KeyProblem::TrailingDot {
            segment: segment.to_owned(),
        });
    }
    let stem = segment.split('.').next().unwrap_or(segment);
    if RESERVED.iter().any(|r| stem.eq_ignore_ascii_case(r)) {
        return Some(KeyProblem::ReservedName {
            segment: segment.to_owned(),
        });
    }
    None
}

/// Whether `name` could be one segment of a key.
pub(crate) fn is_valid_segment(name: &str) -> bool {
    name.len() <= MAX_SEGMENT_BYTES && segment_problem(name, 0, 0).is_none()
}

/// How far apart two keys are: the Levenshtein distance in characters (the
/// fewest single-character insertions, deletions and substitutions). Used to
/// name the keys nearest a mistyped one.
///
/// ```
/// assert_eq!(tracedeck::cassette::key_distance("support/triag", "support/triage"), 1);
/// ```
pub fn key_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(key: &str) -> KeyProblem {
        match validate_key(key) {
            Err(CassetteError::InvalidKey { problem, .. }) => problem,
            other => panic!("{key:?}: expected InvalidKey, got {other:?}"),
        }
    }

    #[test]
    fn accepts_plain_and_nested_keys() {
        for key in [
            "a",
            "chat-turn",
            "A.b_c-9",
            "a/b/c",
            "v1.2/x",
            "...a",
            ".hidden",
        ] {
            assert!(validate_key(key).is_ok(), "{key}");
        }
        assert!(validate_key(&"x".repeat(MAX_SEGMENT_BYTES)).is_ok());
    }

    #[test]
    fn names_each_problem() {
        assert_eq!(problem(""), KeyProblem::Empty);
        assert_eq!(problem("/etc"), KeyProblem::Absolute);
        assert_eq!(problem("C:\\x"), KeyProblem::Backslash);
        assert_eq!(problem("a\0b"), KeyProblem::Nul);
        assert_eq!(problem("a//b"), KeyProblem::EmptySegment { index: 1 });
        assert_eq!(problem("a/"), KeyProblem::EmptySegment { index: 1 });
        assert_eq!(
            problem("../../etc/x"),
            KeyProblem::DotSegment {
                segment: "..".into()
            }
        );
        assert_eq!(
            problem("a/./b"),
            KeyProblem::DotSegment {
                segment: ".".into()
            }
        );
        assert_eq!(
            problem("ab/c d"),
            KeyProblem::BadCharacter { ch: ' ', at: 4 }
        );
        assert_eq!(problem("C:x"), KeyProblem::BadCharacter { ch: ':', at: 1 });
        assert_eq!(problem("a/é"), KeyProblem::BadCharacter { ch: 'é', at: 2 });
        assert_eq!(
            problem(&format!("a/{}", "x".repeat(MAX_SEGMENT_BYTES + 1))),
            KeyProblem::SegmentTooLong {
                index: 1,
                len: MAX_SEGMENT_BYTES + 1
            }
        );
        assert_eq!(
            problem(&["abcdefgh"; 120].join("/")),
            KeyProblem::TooLong { len: 1079 }
        );
        assert_eq!(
            problem("a./b"),
            KeyProblem::TrailingDot {
                segment: "a.".into()
            }
        );
        assert_eq!(
            problem("x/NUL.json"),
            KeyProblem::ReservedName {
                segment: "NUL.json".into()
            }
        );
        assert_eq!(
            problem("com1"),
            KeyProblem::ReservedName {
                segment: "com1".into()
            }
        );
    }

    #[test]
    fn the_message_names_the_key_and_the_fix() {
        let err = validate_key("a b").unwrap_err().to_string();
        assert!(err.contains("\"a b\""), "{err}");
        assert!(err.contains("A-Z a-z 0-9"), "{err}");
    }
}
