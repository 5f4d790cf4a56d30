//! `tracedeck verify`: re-hash every cassette, check its format, and scan it
//! for secret-looking strings; exit 1 on any problem, naming the file.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::Outcome;
use crate::args::VerifyArgs;
use crate::cassettes::{hint_nested_stores, nested_stores, open};
use crate::error::CliError;
use crate::text::count;

/// The report as `--json` prints it.
#[derive(Debug, Serialize)]
struct JsonReport {
    dir: String,
    clean: bool,
    checked: usize,
    failing: usize,
    /// Problems that are not about one file (a folder that could not be read).
    errors: Vec<String>,
    files: Vec<JsonFile>,
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

/// Runs `verify` on the store in `dir`.
pub fn run(dir: &Path, args: &VerifyArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let store = open(dir)?;
    let report = store.verify();
    let outcome = if report.is_clean() {
        Outcome::Clean
    } else {
        Outcome::Findings
    };
    let failing = report.failing().count();

    if args.json {
        let json = JsonReport {
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
