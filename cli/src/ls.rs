//! `tracedeck ls`: the keys of a cassette folder, with their trace counts,
//! sizes and newest recording.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use crate::Outcome;
use crate::args::LsArgs;
use crate::cassettes::{hint_nested_stores, nested_stores, open, warn};
use crate::error::CliError;
use crate::text::{Align, count, human_size, table, timestamp};

/// One key of the listing.
#[derive(Debug, Serialize)]
struct KeyEntry {
    key: String,
    traces: usize,
    bytes: u64,
    /// RFC 3339, UTC: the newest `recorded_at`, else the newest file time.
    #[serde(skip_serializing_if = "Option::is_none")]
    newest: Option<String>,
    /// Files of the key that could not be loaded.
    unreadable: Vec<String>,
}

/// Runs `ls` on the store in `dir`.
pub fn run(dir: &Path, args: &LsArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let store = open(dir)?;
    let mut entries = Vec::new();
    let mut nested = std::collections::BTreeSet::new();
    for key in store.keys()? {
        let found = store.traces(&key)?;
        nested.extend(nested_stores(store.dir(), &found.errors));
        let bytes = found
            .traces
            .iter()
            .filter_map(|t| std::fs::metadata(&t.path).ok())
            .map(|m| m.len())
            .sum();
        let newest: Option<SystemTime> =
            found.traces.iter().filter_map(|t| t.recorded_time()).max();
        entries.push(KeyEntry {
            traces: found.traces.len(),
            bytes,
            newest: newest.and_then(timestamp),
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
    let mut rows = vec![
        ["KEY", "TRACES", "SIZE", "NEWEST"]
            .map(String::from)
            .to_vec(),
    ];
    for entry in &entries {
        let mut traces = entry.traces.to_string();
        if !entry.unreadable.is_empty() {
            traces = format!("{traces} (+{} bad)", entry.unreadable.len());
        }
        rows.push(vec![
            entry.key.clone(),
            traces,
            human_size(entry.bytes),
            entry.newest.clone().unwrap_or_else(|| "-".to_owned()),
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
