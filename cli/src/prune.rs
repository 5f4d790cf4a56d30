//! `tracedeck prune`: the cassettes no replay used since the usage ledger
//! was reset; `--yes` deletes them, `--reset` starts the ledger again.
//!
//! Replays note every cassette they serve in the store's usage ledger
//! (`<store>/.tracedeck/used/`, see `tracedeck::cassette::UsageLedger`).
//! The workflow, as `cargo insta test --unreferenced=delete`:
//! `tracedeck prune --reset`, run the whole test suite, `tracedeck prune`
//! to review, `tracedeck prune --yes` to delete.

use std::io::Write;

use crate::Outcome;
use crate::args::PruneArgs;
use crate::cassettes::open;
use crate::error::CliError;
use crate::store::Location;
use crate::text::{count, timestamp};

/// Runs `prune` on the store at `location`: a folder. On object storage it
/// is [`CliError::NotOnObjectStorage`]: replays from a bucket note nothing
/// (the usage ledger is a folder of the local store), so every cassette
/// there would look unused.
pub fn run(
    location: &Location,
    args: &PruneArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let cassettes = open(location)?;
    let Some(store) = cassettes.local() else {
        return Err(CliError::NotOnObjectStorage {
            command: "prune",
            url: cassettes.dir().to_owned(),
            why: "the usage ledger that says which cassettes replays used lives in a local \
                  store's folder, and replays from object storage note nothing, so every \
                  cassette would look unused; delete objects with your storage's own tools",
        });
    };
    let ledger = store.usage();
    if args.reset {
        ledger.reset()?;
        writeln!(
            out,
            "usage ledger reset in {}: every cassette counts as unused until a replay uses it",
            ledger.folder().display()
        )?;
        return Ok(Outcome::Clean);
    }
    let all = ledger.cassettes()?;
    let unused = ledger.unused()?;
    // Two scans: a cassette written between them must not underflow.
    let used = all.len().saturating_sub(unused.len());
    let since = match ledger.started().and_then(timestamp) {
        Some(at) => at,
        None if ledger.folder().exists() => "the ledger was started".to_owned(),
        None => "ever (no replay has noted anything yet)".to_owned(),
    };
    writeln!(
        out,
        "{} of {} used since {since} in {}",
        used,
        count(all.len(), "cassette"),
        store.dir().display()
    )?;
    if unused.is_empty() {
        writeln!(out, "no unused cassettes")?;
        return Ok(Outcome::Clean);
    }
    if args.yes && used == 0 {
        return Err(CliError::EmptyLedger {
            dir: store.dir().to_owned(),
            since,
        });
    }
    if !args.yes {
        writeln!(out, "{} unused:", count(unused.len(), "cassette"))?;
        for cassette in &unused {
            writeln!(out, "  {}", cassette.path.display())?;
        }
        writeln!(
            out,
            "`tracedeck prune --yes` deletes them; `tracedeck prune --reset` starts the ledger again"
        )?;
        return Ok(Outcome::Clean);
    }
    let mut deleted = 0;
    let mut failed = Vec::new();
    for cassette in &unused {
        match std::fs::remove_file(&cassette.path) {
            Ok(()) => {
                deleted += 1;
                store.remove_from_index(&cassette.key, &cassette.hash);
                writeln!(out, "deleted {}", cassette.path.display())?;
                // Key folders left empty go too (a folder still holding
                // anything, a nested key say, stays).
                let mut folder = cassette.path.parent();
                while let Some(dir) = folder.filter(|d| *d != store.dir()) {
                    if std::fs::remove_dir(dir).is_err() {
                        break;
                    }
                    folder = dir.parent();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => failed.push(format!("{}: {e}", cassette.path.display())),
        }
    }
    writeln!(out, "deleted {}", count(deleted, "unused cassette"))?;
    for failure in &failed {
        writeln!(out, "FAIL could not delete {failure}")?;
    }
    Ok(if failed.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}
