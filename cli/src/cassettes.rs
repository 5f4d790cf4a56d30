//! Opening the cassette folder (or bucket) and finding the traces a
//! command names.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use tracedeck::cassette::{CassetteError, Store, StoredTrace, key_distance, validate_key};

use crate::error::CliError;
use crate::store::{Cassettes, Location, open_url};
use crate::text::short_hash;

/// Opens the store at `location`. A folder must already exist: reading
/// commands never create one (a typo in `--dir` is an error, not an empty
/// store). An object-store URL is opened as given (see [`open_url`]).
///
/// A folder that holds stores instead of being one (as a repository's
/// `cassettes/` holding `cassettes/examples/` and `cassettes/quickstart/`)
/// is [`CliError::SeveralStores`], naming them.
pub fn open(location: &Location) -> Result<Cassettes, CliError> {
    match location {
        Location::Folder(dir) => {
            open_with(dir, |dir: &Path| Store::open(dir)).map(Cassettes::Local)
        }
        Location::Url(url) => open_url(url),
    }
}

/// [`open`] for commands that only look: a folder is opened as it is
/// ([`Store::open_existing`]), without the walk over every folder that
/// removing stale temporary files takes.
pub fn open_to_read(location: &Location) -> Result<Cassettes, CliError> {
    match location {
        Location::Folder(dir) => {
            open_with(dir, |dir: &Path| Store::open_existing(dir)).map(Cassettes::Local)
        }
        Location::Url(url) => open_url(url),
    }
}

/// [`open_to_read`] for a command that looks up one thing (`show`): the
/// check for a folder of stores, which reads a cassette of every key, is
/// left to [`several_stores_or`], to run only if the lookup fails.
pub fn open_to_look_up(location: &Location) -> Result<Cassettes, CliError> {
    match location {
        Location::Folder(dir) => {
            open_checked(dir, |dir: &Path| Store::open_existing(dir), false).map(Cassettes::Local)
        }
        Location::Url(url) => open_url(url),
    }
}

/// `error`, unless the store is a folder holding stores of its own (see
/// [`open`]): then the error that names them, which is what went wrong.
pub fn several_stores_or(cassettes: &Cassettes, error: CliError) -> CliError {
    let Some(store) = cassettes.local() else {
        return error;
    };
    let stores = stores_inside(store);
    if stores.is_empty() {
        error
    } else {
        CliError::SeveralStores {
            dir: store.dir().to_owned(),
            stores,
        }
    }
}

fn open_with(
    dir: &Path,
    open_store: impl Fn(&Path) -> Result<Store, CassetteError>,
) -> Result<Store, CliError> {
    open_checked(dir, open_store, true)
}

fn open_checked(
    dir: &Path,
    open_store: impl Fn(&Path) -> Result<Store, CassetteError>,
    check_stores_inside: bool,
) -> Result<Store, CliError> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let store = open_store(dir)?;
            let stores = if check_stores_inside {
                stores_inside(&store)
            } else {
                Vec::new()
            };
            if stores.is_empty() {
                Ok(store)
            } else {
                Err(CliError::SeveralStores {
                    dir: dir.to_owned(),
                    stores,
                })
            }
        }
        Ok(_) => Err(CliError::NotAFolder {
            dir: dir.to_owned(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CliError::NoStore {
            dir: dir.to_owned(),
        }),
        Err(source) => Err(CliError::Unreadable {
            dir: dir.to_owned(),
            source,
        }),
    }
}

/// The traces `target` names: every trace of a key, or the one trace whose
/// hash (or unique hash prefix, or file name `<hash>.json`) it is. Files of
/// the key that fail to load are reported on standard error; the good ones
/// are still returned.
pub fn resolve(store: &Cassettes, target: &str) -> Result<Vec<StoredTrace>, CliError> {
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
    let did_you_mean = if validate_key(target).is_ok() {
        closest_key(target, &store.keys().unwrap_or_default())
    } else {
        None
    };
    Err(CliError::NotFound {
        target: target.to_owned(),
        dir: store.dir().to_owned(),
        did_you_mean,
    })
}

/// The key of `keys` closest to `typed` by edit distance, if close enough
/// to be a typo: at most 2 edits, or a third of the key's length.
pub fn closest_key(typed: &str, keys: &[String]) -> Option<String> {
    let limit = (typed.chars().count() / 3).max(2);
    keys.iter()
        .map(|key| (key_distance(typed, key), key))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, key)| key.clone())
}

/// Folders inside the store's folder that are stores of their own: a key
/// folder `<prefix>/<k>` whose cassettes hold traces of key `<k>` says
/// `<prefix>` is a store. One cassette per key folder is read (its root
/// key only; the first in the folder's listing order), so this stays cheap
/// on big stores.
pub fn stores_inside(store: &Store) -> Vec<PathBuf> {
    let Ok(keys) = store.keys() else {
        return Vec::new();
    };
    let mut stores = BTreeSet::new();
    for key in keys {
        let Ok(folder) = store.key_dir(&key) else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        // The first cassette that reads, in listing order: the folder is
        // not listed whole (it may hold thousands).
        let Some(trace_key) = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .find_map(|path| root_key(&path, store.max_file_bytes()))
        else {
            continue;
        };
        if let Some(prefix) = key
            .strip_suffix(trace_key.as_str())
            .and_then(|prefix| prefix.strip_suffix('/'))
            .filter(|prefix| !prefix.is_empty())
        {
            stores.insert(store.dir().join(prefix));
        }
    }
    stores.into_iter().collect()
}

/// The root span's key of the cassette at `path`, if it reads as one.
fn root_key(path: &Path, max_bytes: u64) -> Option<String> {
    if std::fs::metadata(path).ok()?.len() > max_bytes {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    Some(value.pointer("/trace/spans/0/key")?.as_str()?.to_owned())
}

/// The one trace `target` names; a key must have exactly one.
pub fn resolve_one(store: &Cassettes, target: &str) -> Result<StoredTrace, CliError> {
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
