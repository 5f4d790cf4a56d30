use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::json::escape;

/// A kind of credential that [`find_secrets`] recognizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretKind {
    /// An OpenAI-style API key: `sk-` (or `sk-proj-`, ...) and 8 or more key
    /// characters that look random (see [`find_secrets`]).
    OpenAiKey,
    /// An Anthropic API key: `sk-ant-` and 8 or more key characters that
    /// look random (see [`find_secrets`]).
    AnthropicKey,
    /// An HTTP bearer credential: `Bearer ` and a token of 16 or more characters.
    BearerToken,
    /// An AWS access key id: `AKIA` or `ASIA` and 16 upper-case letters or digits.
    AwsAccessKeyId,
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OpenAiKey => "OpenAI-style API key",
            Self::AnthropicKey => "Anthropic API key",
            Self::BearerToken => "bearer token",
            Self::AwsAccessKeyId => "AWS access key id",
        })
    }
}

/// A secret-looking string found in a cassette.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFinding {
    /// What it looks like.
    pub kind: SecretKind,
    /// Where: a JSON Pointer to the string (or to the object whose key holds
    /// it), or `byte N` in a file that is not JSON.
    pub location: String,
    /// Enough of it to find it, never the whole: its prefix, three more
    /// characters, and its length.
    pub preview: String,
}

impl fmt::Display for SecretFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.kind, self.location, self.preview)
    }
}

/// Keys: `\b` keeps `task-...` or `desk-...` from matching; leftmost-first
/// alternation tries `sk-ant-` before `sk-`.
static PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<ant>\bsk-ant-[A-Za-z0-9_-]{8,})",
        r"|(?P<oai>\bsk-[A-Za-z0-9_-]{8,})",
        r"|(?P<bearer>\b(?i:bearer)\s+[A-Za-z0-9._~+/-]{16,}=*)",
        r"|(?P<aws>\b(?:AKIA|ASIA)[A-Z0-9]{16}\b)",
    ))
    .expect("the secret pattern is a valid regex")
});

/// Every secret-looking string in `value`, keys included, with a JSON
/// Pointer to where it is.
///
/// Looks for OpenAI-style keys (`sk-…`), Anthropic keys (`sk-ant-…`),
/// bearer tokens (`Bearer …`) and AWS access key ids (`AKIA…`). Keys and
/// tokens must be long enough and mix letters with digits, so ordinary
/// prose such as `sk-learn-is-a-python-library` or "Bearer tokens expire"
/// is not flagged. A key shorter than 20 characters after its prefix (a
/// test key, a gateway's key, a server echoing a short key back) is flagged
/// from 8 characters on when it also has an upper-case letter or a segment
/// of 4 or more characters mixing letters and digits (`sk-abc123def`,
/// `sk-test-SECRET-123`), never for lower-case words and version numbers
/// (`sk-learn-1-2-0`).
///
/// ```
/// use serde_json::json;
/// use tracedeck::cassette::{SecretKind, find_secrets};
/// let found = find_secrets(&json!({"headers": ["Authorization: Bearer abcdef0123456789xyz"]}));
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].kind, SecretKind::BearerToken);
/// assert_eq!(found[0].location, "/headers/0");
/// ```
pub fn find_secrets(value: &Value) -> Vec<SecretFinding> {
    let mut found = Vec::new();
    walk(value, String::new(), &mut found);
    found
}

fn walk(value: &Value, at: String, found: &mut Vec<SecretFinding>) {
    match value {
        Value::String(s) => scan_text(s, &at, found),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{at}/{i}"), found);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                scan_text(key, &at, found);
                walk(item, format!("{at}/{}", escape(key)), found);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn scan_text(text: &str, at: &str, found: &mut Vec<SecretFinding>) {
    for (kind, _, preview) in secrets_in(text) {
        found.push(SecretFinding {
            kind,
            location: at.to_owned(),
            preview,
        });
    }
}

/// Every secret-looking string in free `text` (a file that is not JSON,
/// say), located by byte offset.
pub fn find_secrets_in_text(text: &str) -> Vec<SecretFinding> {
    secrets_in(text)
        .into_iter()
        .map(|(kind, at, preview)| SecretFinding {
            kind,
            location: format!("byte {at}"),
            preview,
        })
        .collect()
}

/// (kind, byte offset, preview) of each secret in `text`.
fn secrets_in(text: &str) -> Vec<(SecretKind, usize, String)> {
    let mut out = Vec::new();
    for caps in PATTERN.captures_iter(text) {
        let (kind, m, prefix_len) = if let Some(m) = caps.name("ant") {
            (SecretKind::AnthropicKey, m, "sk-ant-".len())
        } else if let Some(m) = caps.name("oai") {
            (SecretKind::OpenAiKey, m, "sk-".len())
        } else if let Some(m) = caps.name("bearer") {
            // The prefix is the word `bearer` and the whitespace after it.
            let text = m.as_str();
            let word_end = text.find(char::is_whitespace).unwrap_or(text.len());
            let prefix = text.len() - text[word_end..].trim_start().len();
            (SecretKind::BearerToken, m, prefix)
        } else if let Some(m) = caps.name("aws") {
            (SecretKind::AwsAccessKeyId, m, "AKIA".len())
        } else {
            continue;
        };
        let secret = m.as_str();
        let body = &secret[prefix_len..];
        let looks_random = match kind {
            SecretKind::AwsAccessKeyId => true,
            SecretKind::BearerToken => mixes_letters_and_digits(body),
            SecretKind::OpenAiKey | SecretKind::AnthropicKey => looks_like_key(body),
        };
        if looks_random {
            out.push((kind, m.start(), preview(secret, prefix_len)));
        }
    }
    out
}

/// Key bodies this long only need to mix letters and digits.
const LONG_KEY: usize = 20;

fn mixes_letters_and_digits(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_digit()) && text.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Whether the characters after `sk-` (or `sk-ant-`) look like a key rather
/// than words: letters and digits, and, when short, an upper-case letter or
/// a segment of 4+ characters that mixes letters and digits.
fn looks_like_key(body: &str) -> bool {
    if !mixes_letters_and_digits(body) {
        return false;
    }
    body.len() >= LONG_KEY
        || body.bytes().any(|b| b.is_ascii_uppercase())
        || body
            .split(['-', '_'])
            .any(|segment| segment.len() >= 4 && mixes_letters_and_digits(segment))
}

/// The prefix, three more characters, and the length.
fn preview(secret: &str, prefix_len: usize) -> String {
    let shown: String = secret[prefix_len..].chars().take(3).collect();
    format!(
        "{}{shown}… ({} chars)",
        &secret[..prefix_len],
        secret.chars().count()
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kinds(text: &str) -> Vec<SecretKind> {
        find_secrets_in_text(text)
            .into_iter()
            .map(|f| f.kind)
            .collect()
    }

    #[test]
    fn recognizes_each_kind() {
        assert_eq!(
            kinds("key sk-proj-Ab3dEfGhIjKlMnOpQrStUvWx end"),
            [SecretKind::OpenAiKey]
        );
        assert_eq!(
            kinds("sk-ant-api03-AbCdEfGh1234567890abcdEF"),
            [SecretKind::AnthropicKey]
        );
        assert_eq!(
            kinds("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc"),
            [SecretKind::BearerToken]
        );
        assert_eq!(kinds("bearer  abcdefgh12345678"), [SecretKind::BearerToken]);
        let found = find_secrets_in_text("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc");
        assert_eq!(found[0].location, "byte 15");
        assert_eq!(found[0].preview, "Bearer eyJ… (31 chars)");
        assert_eq!(
            kinds("id=AKIAIOSFODNN7EXAMPLE;"),
            [SecretKind::AwsAccessKeyId]
        );
        assert_eq!(kinds("ASIAIOSFODNN7EXAMPLE"), [SecretKind::AwsAccessKeyId]);
    }

    #[test]
    fn leaves_prose_and_short_strings_alone() {
        for text in [
            "sk-learn-is-a-python-library-for-ml",
            "task-0123456789abcdefghijklmnop",
            "sk-short1",
            "Bearer tokens expire after an hour",
            "Bearer abc123",
            "AKIA-not-a-key",
            "XAKIAIOSFODNN7EXAMPLE",
            "AKIAIOSFODNN7EXAMPLEX",
        ] {
            assert!(kinds(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn flags_short_keys() {
        for (text, kind) in [
            ("sk-test-SECRET-123", SecretKind::OpenAiKey),
            ("sk-abc123def", SecretKind::OpenAiKey),
            ("sk-1a2b3c4d", SecretKind::OpenAiKey),
            ("sk-Ab3Xy9Zq", SecretKind::OpenAiKey),
            ("echo: resp-sk-hostile-Key9 end", SecretKind::OpenAiKey),
            ("\"id\":\"chatcmpl-sk-a1b2c3d4e5\"", SecretKind::OpenAiKey),
            ("sk-proj-Xy7Zq9Lm", SecretKind::OpenAiKey),
            ("sk-svcacct-Ab12Cd34", SecretKind::OpenAiKey),
            ("sk-or-v1-abc1234567", SecretKind::OpenAiKey),
            ("sk-ant-abc12345", SecretKind::AnthropicKey),
            ("sk-ant-api03-Xy9", SecretKind::AnthropicKey),
        ] {
            assert_eq!(kinds(text), [kind], "{text}");
        }
    }

    #[test]
    fn leaves_words_with_sk_dash_alone() {
        for text in [
            "task-list",
            "desk-lamp",
            "sk-learn",
            "pip install sk-learn-1-2-0",
            "sk-learn-v1-2",
            "sk-learn==1.3.2",
            "sk-dash-separated-words",
            "sk-12345678",
            "whisk-0123456789abc",
            "the risk-a1b2c3d4 flag",
            "sk-ant-",
            "sk-ant-thropic-model",
            "sk-proj-planning-2024",
        ] {
            assert!(kinds(text).is_empty(), "{text}: {:?}", kinds(text));
        }
    }

    #[test]
    fn locates_findings_in_json_and_never_shows_the_whole_secret() {
        let secret = "sk-ant-api03-AbCdEfGh1234567890abcdEF";
        let doc = json!({"a": [{"b/c": secret}], secret: 1});
        let found = find_secrets(&doc);
        assert_eq!(found.len(), 2);
        let locations: Vec<&str> = found.iter().map(|f| f.location.as_str()).collect();
        assert!(locations.contains(&"/a/0/b~1c"), "{locations:?}");
        assert!(locations.contains(&""), "{locations:?}");
        for f in &found {
            assert!(!f.preview.contains(secret));
            assert!(f.preview.starts_with("sk-ant-api"), "{}", f.preview);
            assert!(f.to_string().contains("Anthropic API key"));
        }
    }
}
