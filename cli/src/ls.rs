//! `tracedeck ls`: the keys of a cassette folder, with their trace counts,
//! sizes and newest recording.
//!
//! Cassettes hold no wall-clock time (contract 6: the same session recorded
//! twice gives the same bytes), and a checkout sets every file's time to the
//! checkout's. So the time shown is, per cassette, the first known of: its
//! `recorded_at` (when the store stamps one), the last git commit of the
//! file, or else its modification time — and the column says which.
//!
//! The listing comes from the folders and the store's lookup index
//! ([`Store::list`](tracedeck::cassette::Store::list)): each write notes a
//! cassette's size, `recorded_at` and modification time in its key's log,
//! so a cassette the index knows is listed without opening or `stat`ing
//! its file (its modification time is then the one noted when it was
//! written, or when `tracedeck verify --fix` last rebuilt the index). Other
//! files are opened for their first bytes. No cassette is decoded or
//! re-hashed. A file that does not open as a cassette is counted bad;
//! damage further in is for `tracedeck verify`.

use std::io::Write;
use std::time::SystemTime;

use serde::Serialize;

use crate::Outcome;
use crate::args::LsArgs;
use crate::cassettes::{hint_nested_stores, nested_stores, open_to_read, warn};
use crate::error::CliError;
use crate::git::commit_times;
use crate::store::Location;
use crate::text::{Align, count, human_size, table, timestamp};

/// One key of the listing.
#[derive(Debug, Serialize)]
struct KeyEntry {
    key: String,
    traces: usize,
    bytes: u64,
    /// RFC 3339, UTC: the newest time of the key's cassettes (see the module docs).
    #[serde(skip_serializing_if = "Option::is_none")]
    newest: Option<String>,
    /// Where `newest` comes from: `recorded` (the cassette's `recorded_at`),
    /// `commit` (git) or `modified` (the file's modification time).
    #[serde(skip_serializing_if = "Option::is_none")]
    newest_source: Option<TimeSource>,
    /// Files of the key that could not be loaded.
    unreadable: Vec<String>,
}

/// Where a cassette's time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum TimeSource {
    /// The cassette's own `recorded_at`.
    Recorded,
    /// The last git commit of the file.
    Commit,
    /// The file's modification time (a checkout's, perhaps).
    Modified,
}

impl TimeSource {
    /// The column header when every time shown comes from here.
    fn header(self) -> &'static str {
        match self {
            Self::Recorded => "RECORDED",
            Self::Commit => "COMMITTED",
            Self::Modified => "MODIFIED",
        }
    }

    /// The mark after a time in a column of mixed sources.
    fn mark(self) -> &'static str {
        match self {
            Self::Recorded => "recorded",
            Self::Commit => "commit",
            Self::Modified => "modified",
        }
    }
}

/// Runs `ls` on the store at `location`. On object storage the time shown
/// is each object's last-modified time (its upload), as the store reports it.
pub fn run(location: &Location, args: &LsArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let store = open_to_read(location)?;
    let mut entries = Vec::new();
    let mut nested = std::collections::BTreeSet::new();
    let commits = match store.local() {
        Some(local) => commit_times(local.dir()),
        None => std::collections::HashMap::new(),
    };
    for key in store.keys()? {
        // Names, sizes and times only: no cassette is decoded (`verify` does that).
        let found = store.list(&key)?;
        nested.extend(nested_stores(store.dir(), &found.errors));
        let bytes = found.files.iter().map(|t| t.bytes).sum();
        let newest: Option<(SystemTime, TimeSource)> = found
            .files
            .iter()
            .filter_map(|t| {
                if let Some(at) = t.recorded_at {
                    Some((at, TimeSource::Recorded))
                } else if let Some(at) = commits.get(&t.path) {
                    Some((*at, TimeSource::Commit))
                } else {
                    t.modified.map(|at| (at, TimeSource::Modified))
                }
            })
            .max_by_key(|(at, _)| *at);
        let newest = newest.and_then(|(at, source)| Some((timestamp(at)?, source)));
        entries.push(KeyEntry {
            traces: found.files.len(),
            bytes,
            newest_source: newest.as_ref().map(|(_, source)| *source),
            newest: newest.map(|(at, _)| at),
            unreadable: found.errors.iter().map(ToString::to_string).collect(),
            key,
        });
    }

    if args.json {
        serde_json::to_writer_pretty(&mut *out, &entries)?;
        writeln!(out)?;
        return Ok(Outcome::Clean);
    }
    if entries.is_empty() {
        writeln!(out, "no cassettes in {}", store.dir().display())?;
        return Ok(Outcome::Clean);
    }
    let sources: std::collections::BTreeSet<&'static str> = entries
        .iter()
        .filter_map(|e| e.newest_source.map(TimeSource::header))
        .collect();
    let single_source = sources.len() <= 1;
    let header = match sources.iter().next() {
        Some(header) if single_source => header,
        _ => "NEWEST",
    };
    let mut rows = vec![["KEY", "TRACES", "SIZE", header].map(String::from).to_vec()];
    for entry in &entries {
        let mut traces = entry.traces.to_string();
        if !entry.unreadable.is_empty() {
            traces = format!("{traces} (+{} bad)", entry.unreadable.len());
        }
        rows.push(vec![
            entry.key.clone(),
            traces,
            human_size(entry.bytes),
            match (&entry.newest, entry.newest_source) {
                (Some(at), Some(source)) if !single_source => format!("{at} ({})", source.mark()),
                (Some(at), _) => at.clone(),
                (None, _) => "-".to_owned(),
            },
        ]);
    }
    write!(
        out,
        "{}",
        table(
            &rows,
            &[Align::Left, Align::Right, Align::Right, Align::Left]
        )
    )?;
    let traces: usize = entries.iter().map(|e| e.traces).sum();
    let bytes: u64 = entries.iter().map(|e| e.bytes).sum();
    writeln!(
        out,
        "{} · {} · {} in {}",
        count(entries.len(), "key"),
        count(traces, "trace"),
        human_size(bytes),
        store.dir().display()
    )?;
    let bad: usize = entries.iter().map(|e| e.unreadable.len()).sum();
    if bad > 0 {
        out.flush()?; // the listing first, then what is wrong with it
        for entry in &entries {
            for problem in &entry.unreadable {
                warn(problem);
            }
        }
        warn(&format!(
            "{} could not be loaded; `tracedeck verify` checks every file",
            count(bad, "cassette")
        ));
        hint_nested_stores(&nested, "ls");
    }
    Ok(Outcome::Clean)
}
