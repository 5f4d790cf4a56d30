//! What can go wrong running a command, each saying what to do next.

use std::io;
use std::path::PathBuf;

use tracedeck::cassette::CassetteError;

/// A command that could not run (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The cassette folder does not exist.
    #[error(
        "no cassette folder at `{}`: pass --dir DIR (or set TRACEDECK_DIR), or run from the folder that holds `cassettes/`",
        dir.display()
    )]
    NoStore {
        /// The folder looked for.
        dir: PathBuf,
    },
    /// The cassette folder is a file.
    #[error("`{}` is not a folder", dir.display())]
    NotAFolder {
        /// The path given.
        dir: PathBuf,
    },
    /// Nothing in the store has that key or hash.
    #[error(
        "no key or trace hash `{target}` in `{}`{}",
        dir.display(),
        match did_you_mean {
            Some(key) => format!(": did you mean `{key}`? (`tracedeck ls` lists the keys)"),
            None => "; `tracedeck ls` lists the keys".to_owned(),
        }
    )]
    NotFound {
        /// What was looked for.
        target: String,
        /// The store's folder.
        dir: PathBuf,
        /// The store's key closest to `target`, when one is close.
        did_you_mean: Option<String>,
    },
    /// The folder is not one store but holds several (or one, a level down).
    #[error(
        "`{}` holds {}: {}; pass {} with --dir, e.g. `tracedeck --dir {} ...`",
        dir.display(),
        if stores.len() == 1 { "1 store".to_owned() } else { format!("{} stores", stores.len()) },
        stores.iter().map(|s| s.display().to_string()).collect::<Vec<_>>().join(", "),
        if stores.len() == 1 { "it" } else { "one" },
        stores.first().map(|s| s.display().to_string()).unwrap_or_default()
    )]
    SeveralStores {
        /// The folder given.
        dir: PathBuf,
        /// The stores inside it, in path order.
        stores: Vec<PathBuf>,
    },
    /// `prune --yes` with an empty ledger would delete every cassette.
    #[error(
        "no replay has been noted in `{}` since {since}, so every cassette looks unused; \
         run your tests (they note what they replay) before `tracedeck prune --yes`",
        dir.display()
    )]
    EmptyLedger {
        /// The store's folder.
        dir: PathBuf,
        /// When the ledger was started, in words.
        since: String,
    },
    /// A key whose every cassette failed to load.
    #[error(
        "none of the {count} cassette(s) of key `{key}` could be loaded; the first: {first}\n(`tracedeck verify` checks them all)"
    )]
    KeyUnreadable {
        /// The key.
        key: String,
        /// How many files failed.
        count: usize,
        /// The first failure.
        #[source]
        first: CassetteError,
    },
    /// One trace was needed but the key has several.
    #[error("key `{key}` has {count} traces; name one by hash: {}", hashes.join(", "))]
    NotOneTrace {
        /// The key.
        key: String,
        /// How many traces it has.
        count: usize,
        /// Their short hashes.
        hashes: Vec<String>,
    },
    /// `--dir` is a URL that names no object store this binary can open.
    #[cfg_attr(not(feature = "object-store"), allow(dead_code))]
    #[error("cannot open `{url}` as an object store: {problem}")]
    ObjectStoreUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// `--dir` is a URL, but this binary was built without object storage.
    #[cfg_attr(feature = "object-store", allow(dead_code))]
    #[error(
        "`{url}` is an object-store URL, but this tracedeck was built without the `object-store` feature; \
         reinstall it with default features, or copy the cassettes to a folder"
    )]
    ObjectStoreDisabled {
        /// The URL given.
        url: String,
    },
    /// A command (or option) that works on folders only.
    #[error("`tracedeck {command}` does not work on object storage (`{url}`): {why}")]
    NotOnObjectStorage {
        /// The command, with the option when it is the option that cannot.
        command: &'static str,
        /// The store's URL.
        url: PathBuf,
        /// Why not, and what to do instead.
        why: &'static str,
    },
    /// Reading the store failed.
    #[error(transparent)]
    Cassette(#[from] CassetteError),
    /// The cassette folder exists but cannot be looked at (permissions, say).
    #[error("cannot read `{}`: {source}", dir.display())]
    Unreadable {
        /// The folder.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Writing an output file failed.
    #[error("could not write `{}`: {source}", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Writing to standard output failed.
    #[error("could not write the output: {0}")]
    Output(#[source] io::Error),
    /// Encoding JSON output failed.
    #[error("could not encode the output as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `proxy` could not start.
    #[error(transparent)]
    Proxy(#[from] tracedeck_cli::proxy::ProxyError),
    /// A `proxy` option has a value it cannot use.
    #[error("{option} `{value}`: {reason}")]
    BadOption {
        /// The option, e.g. `--speed`.
        option: &'static str,
        /// The value given.
        value: String,
        /// What it must be.
        reason: String,
    },
    /// The proxy stopped with recordings it could not write.
    #[error("{lost} recording(s) could not be written to the cassette folder: {reasons}")]
    Lost {
        /// How many.
        lost: u64,
        /// Why, joined.
        reasons: String,
    },
}

impl From<io::Error> for CliError {
    fn from(err: io::Error) -> Self {
        Self::Output(err)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn an_unreadable_key_keeps_its_first_failure_as_the_source() {
        let first = CassetteError::BadFileName {
            path: PathBuf::from("cassettes/k/x.json"),
        };
        let err = CliError::KeyUnreadable {
            key: "k".into(),
            count: 1,
            first: first.clone(),
        };
        let source = err.source().expect("the cassette error is the source");
        assert_eq!(source.to_string(), first.to_string());
    }
}
