//! `tracedeck verify`: re-hash every cassette, check its format, and scan it
//! for secret-looking strings; exit 1 on any problem, naming the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tracedeck::cassette::TempCleanup;

use crate::Outcome;
use crate::args::VerifyArgs;
use crate::cassettes::{hint_nested_stores, nested_stores, open};
use crate::error::CliError;
use crate::store::Location;
use crate::text::count;

/// The report as `--json` prints it.
#[derive(Debug, Serialize)]
struct JsonReport {
    /// What `--fix` did, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    fixed: Option<JsonFixed>,
    dir: String,
    clean: bool,
    checked: usize,
    failing: usize,
    /// Problems that are not about one file (a folder that could not be read).
    errors: Vec<String>,
    files: Vec<JsonFile>,
    /// How the lookup index compares with the files (a folder store's).
    index: JsonIndex,
}

#[derive(Debug, Serialize)]
struct JsonIndex {
    exists: bool,
    fresh: bool,
    folders_recorded: bool,
    changed_folders: usize,
    unindexed: usize,
    stale: usize,
}

#[derive(Debug, Serialize)]
struct JsonFixed {
    removed: Vec<String>,
    kept: Vec<String>,
    errors: Vec<String>,
    /// What rebuilding the lookup index did (a folder store's).
    index: Option<JsonRebuilt>,
}

#[derive(Debug, Serialize)]
struct JsonRebuilt {
    cassettes: usize,
    folders: usize,
    trusted_folders: usize,
    removed: usize,
}

#[derive(Debug, Serialize)]
struct JsonFile {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
    ok: bool,
    problems: Vec<String>,
    secrets: Vec<String>,
}

/// Runs `verify` on the store at `location`.
///
/// On object storage, `--fix` has nothing to do: an object is put whole or
/// not at all, so no write leaves a temporary object behind. It says so and
/// verifies.
pub fn run(
    location: &Location,
    args: &VerifyArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let (store, fixed) = match location {
        Location::Folder(dir) => {
            // Opening a store removes stale temporary files silently: note
            // them first so `--fix` can say what it removed.
            let before = if args.fix {
                temp_files(dir)
            } else {
                Vec::new()
            };
            let store = open(location)?;
            let fixed = match store.local() {
                Some(local) if args.fix => {
                    let mut cleanup = local.remove_stale_temp_files()?;
                    let gone = before
                        .into_iter()
                        .filter(|p| !p.exists() && !cleanup.removed.contains(p));
                    cleanup.removed.extend(gone.collect::<Vec<_>>());
                    cleanup.removed.sort();
                    // The lookup index, from the folders as they are now.
                    Some((cleanup, Some(local.rebuild_index())))
                }
                _ => None,
            };
            (store, fixed)
        }
        Location::Url(_) => (
            open(location)?,
            args.fix.then(|| (TempCleanup::default(), None)),
        ),
    };
    let remote = store.local().is_none();
    let report = store.verify()?;
    let outcome = if report.is_clean() {
        Outcome::Clean
    } else {
        Outcome::Findings
    };
    let failing = report.failing().count();

    if args.json {
        let json = JsonReport {
            fixed: fixed.as_ref().map(|(c, rebuilt)| JsonFixed {
                removed: c.removed.iter().map(|p| p.display().to_string()).collect(),
                kept: c.kept.iter().map(|p| p.display().to_string()).collect(),
                errors: c
                    .errors
                    .iter()
                    .map(ToString::to_string)
                    .chain(
                        rebuilt
                            .as_ref()
                            .and_then(|r| r.as_ref().err())
                            .map(ToString::to_string),
                    )
                    .collect(),
                index: rebuilt
                    .as_ref()
                    .and_then(|r| r.as_ref().ok())
                    .map(|r| JsonRebuilt {
                        cassettes: r.cassettes,
                        folders: r.folders,
                        trusted_folders: r.trusted_folders,
                        removed: r.removed,
                    }),
            }),
            index: JsonIndex {
                exists: report.index.exists,
                fresh: report.index.is_fresh(),
                folders_recorded: report.index.folders_recorded,
                changed_folders: report.index.changed_folders,
                unindexed: report.index.unindexed,
                stale: report.index.stale,
            },
            dir: store.dir().display().to_string(),
            clean: report.is_clean(),
            checked: report.checked(),
            failing,
            errors: report.errors.iter().map(ToString::to_string).collect(),
            files: report
                .files
                .iter()
                .map(|f| JsonFile {
                    path: f.path.display().to_string(),
                    key: f.key.clone(),
                    hash: f.hash.clone(),
                    ok: f.is_ok(),
                    problems: f.problems.iter().map(ToString::to_string).collect(),
                    secrets: f.secrets.iter().map(ToString::to_string).collect(),
                })
                .collect(),
        };
        serde_json::to_writer_pretty(&mut *out, &json)?;
        writeln!(out)?;
        return Ok(outcome);
    }

    if let Some((cleanup, rebuilt)) = &fixed {
        for path in &cleanup.removed {
            writeln!(out, "removed {}", path.display())?;
        }
        for path in &cleanup.kept {
            writeln!(
                out,
                "kept    {} (written less than 10 minutes ago: perhaps by a live writer)",
                path.display()
            )?;
        }
        for error in &cleanup.errors {
            writeln!(out, "FAIL {error}")?;
        }
        writeln!(
            out,
            "--fix: {} removed{}",
            count(cleanup.removed.len(), "temporary file"),
            if remote {
                " (object storage holds none: an object is written whole or not at all)"
            } else {
                ""
            }
        )?;
        match rebuilt {
            Some(Ok(r)) => writeln!(
                out,
                "--fix: lookup index rebuilt: {} in {}, {} vouched for until they change, {} stale index files removed",
                count(r.cassettes, "cassette"),
                count(r.folders, "folder"),
                r.trusted_folders,
                r.removed,
            )?,
            Some(Err(e)) => writeln!(out, "FAIL could not rebuild the lookup index: {e}")?,
            None => {}
        }
    }
    for error in &report.errors {
        writeln!(out, "FAIL {error}")?;
    }
    for file in report.failing() {
        writeln!(out, "FAIL {}", file.path.display())?;
        for problem in &file.problems {
            writeln!(out, "  problem: {problem}")?;
        }
        for secret in &file.secrets {
            writeln!(out, "  secret:  {secret}")?;
        }
    }
    let mut summary = format!(
        "{} checked in {}: {} ok",
        count(report.checked(), "cassette"),
        store.dir().display(),
        report.checked() - failing
    );
    if failing > 0 {
        summary.push_str(&format!(", {failing} with problems"));
    }
    if !report.errors.is_empty() {
        summary.push_str(&format!(
            ", {} unreadable",
            count(report.errors.len(), "folder")
        ));
    }
    writeln!(out, "{summary}")?;
    // An index out of date slows lookups, never misleads them: a note, not
    // a finding. A store without one (written by an older version, never
    // written to, or on object storage) needs none.
    if report.index.exists && !report.index.is_fresh() {
        writeln!(
            out,
            "note: {}; `tracedeck verify --fix` rebuilds it",
            report.index
        )?;
    }
    if outcome == Outcome::Findings {
        out.flush()?;
        let problems = report.files.iter().flat_map(|f| f.problems.iter());
        hint_nested_stores(&nested_stores(store.dir(), problems), "verify");
        writeln!(
            out,
            "fix or delete the files above (re-record them if needed), then run `tracedeck verify` again"
        )?;
    }
    Ok(outcome)
}

/// The temporary files writers leave while writing (`.tmp-*.partial`)
/// anywhere under `dir`, without following links; the usage ledger's
/// folder is skipped.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && name != tracedeck::cassette::LEDGER_ROOT {
                folders.push(entry.path());
            } else if kind.is_file() && name.starts_with(".tmp-") && name.ends_with(".partial") {
                found.push(entry.path());
            }
        }
    }
    found
}
