//! Opening the cassette folder and finding the traces a command names.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use tracedeck::cassette::{CassetteError, Store, StoredTrace, validate_key};

use crate::error::CliError;
use crate::text::short_hash;

/// Opens the store in `dir`, which must already exist: reading commands
/// never create a folder (a typo in `--dir` is an error, not an empty store).
pub fn open(dir: &Path) -> Result<Store, CliError> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(Store::open(dir)?),
        Ok(_) => Err(CliError::NotAFolder {
            dir: dir.to_owned(),
        }),
        Err(_) => Err(CliError::NoStore {
            dir: dir.to_owned(),
        }),
    }
}

/// The traces `target` names: every trace of a key, or the one trace whose
/// hash (or unique hash prefix, or file name `<hash>.json`) it is. Files of
/// the key that fail to load are reported on standard error; the good ones
/// are still returned.
pub fn resolve(store: &Store, target: &str) -> Result<Vec<StoredTrace>, CliError> {
    if validate_key(target).is_ok() {
        let found = store.traces(target)?;
        if !found.traces.is_empty() {
            for error in &found.errors {
                warn(&format!("skipped a cassette of `{target}`: {error}"));
            }
            return Ok(found.traces);
        }
        let count = found.errors.len();
        if let Some(first) = found.errors.into_iter().next() {
            return Err(CliError::KeyUnreadable {
                key: target.to_owned(),
                count,
                first,
            });
        }
    }
    let hash = hash_part(target);
    if is_hash_like(hash) {
        match store.load(hash) {
            Ok(stored) => return Ok(vec![stored]),
            Err(CassetteError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(CliError::NotFound {
        target: target.to_owned(),
        dir: store.dir().to_owned(),
    })
}

/// The one trace `target` names; a key must have exactly one.
pub fn resolve_one(store: &Store, target: &str) -> Result<StoredTrace, CliError> {
    let mut traces = resolve(store, target)?;
    if traces.len() == 1 {
        return Ok(traces.remove(0));
    }
    Err(CliError::NotOneTrace {
        key: target.to_owned(),
        count: traces.len(),
        hashes: traces
            .iter()
            .map(|t| short_hash(&t.hash).to_owned())
            .collect(),
    })
}

/// The hash in `target`: itself, or the stem of a cassette file path.
fn hash_part(target: &str) -> &str {
    match target.strip_suffix(".json") {
        Some(path) => path.rsplit(['/', '\\']).next().unwrap_or(path),
        None => target,
    }
}

fn is_hash_like(text: &str) -> bool {
    (4..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Prints a warning on standard error (a closed standard error is ignored).
pub fn warn(message: &str) {
    let _ = writeln!(std::io::stderr(), "warning: {message}");
}

/// Folders inside `dir` that look like cassette folders of their own: each
/// holds files whose trace key is the folder key less a leading part
/// (`examples/chat-turn/<hash>.json` holding a `chat-turn` trace says
/// `examples` is a store). Used to point at the right `--dir`.
pub fn nested_stores<'a>(
    dir: &Path,
    errors: impl IntoIterator<Item = &'a CassetteError>,
) -> BTreeSet<PathBuf> {
    errors
        .into_iter()
        .filter_map(|error| match error {
            CassetteError::KeyMismatch {
                folder_key,
                trace_key,
                ..
            } => folder_key
                .strip_suffix(trace_key.as_str())
                .and_then(|prefix| prefix.strip_suffix('/'))
                .filter(|prefix| !prefix.is_empty())
                .map(|prefix| dir.join(prefix)),
            _ => None,
        })
        .collect()
}

/// Prints a hint on standard error for each folder of [`nested_stores`].
pub fn hint_nested_stores(stores: &BTreeSet<PathBuf>, command: &str) {
    for store in stores {
        let _ = writeln!(
            std::io::stderr(),
            "hint: `{}` looks like a cassette folder of its own: try `tracedeck {command} {}`",
            store.display(),
            store.display()
        );
    }
}
