//! `tracedeck diff`: two traces compared span by span, with the timing of
//! every model call; exit 1 when they differ.

use std::io::Write;

use serde::Serialize;
use tracedeck::replay::{LlmTiming, SpanTreeDiff};
use tracedeck::span::format_us;

use crate::Outcome;
use crate::args::DiffArgs;
use crate::cassettes::{open, resolve_one};
use crate::error::CliError;
use crate::store::Location;
use crate::text::{Align, count, short_hash, table};

/// The comparison as `--json` prints it.
#[derive(Debug, Serialize)]
struct JsonDiff<'a> {
    old: &'a str,
    new: &'a str,
    same: bool,
    spans: &'a SpanTreeDiff,
    timing: &'a [LlmTiming],
    /// Whether timing differences were ignored (`--ignore-timing`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    timing_ignored: bool,
}

/// Runs `diff` on the store at `location`.
pub fn run(location: &Location, args: &DiffArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let store = open(location)?;
    let old = resolve_one(&store, &args.old)?;
    let new = resolve_one(&store, &args.new)?;
    let spans = SpanTreeDiff::between(&old.trace, &new.trace);
    let timing = LlmTiming::between(&old.trace, &new.trace);
    let same_timing = timing.iter().all(LlmTiming::is_unchanged);
    let same = spans.is_empty() && (same_timing || args.ignore_timing);
    let outcome = if same {
        Outcome::Clean
    } else {
        Outcome::Findings
    };

    if args.json {
        let json = JsonDiff {
            old: &old.hash,
            new: &new.hash,
            same,
            spans: &spans,
            timing: &timing,
            timing_ignored: args.ignore_timing,
        };
        serde_json::to_writer_pretty(&mut *out, &json)?;
        writeln!(out)?;
        return Ok(outcome);
    }

    writeln!(
        out,
        "--- {} {} ({}, {})",
        short_hash(&old.hash),
        old.key(),
        count(old.trace.spans.len(), "span"),
        format_us(old.trace.duration_us())
    )?;
    writeln!(
        out,
        "+++ {} {} ({}, {})",
        short_hash(&new.hash),
        new.key(),
        count(new.trace.spans.len(), "span"),
        format_us(new.trace.duration_us())
    )?;
    if spans.is_empty() {
        writeln!(out, "span trees: same spans, same inputs and outputs")?;
    } else {
        writeln!(
            out,
            "span trees: {} added, {} removed, {} changed",
            spans.added.len(),
            spans.removed.len(),
            spans.changed.len()
        )?;
        for path in &spans.removed {
            writeln!(out, "- removed {path}")?;
        }
        for path in &spans.added {
            writeln!(out, "+ added   {path}")?;
        }
        for change in &spans.changed {
            writeln!(out, "~ changed {}", change.span)?;
            for json in &change.changes {
                writeln!(out, "    {json}")?;
            }
        }
    }
    if !timing.is_empty() {
        writeln!(out, "model calls (old → new):")?;
        let mut rows = vec![["", "ttft", "duration", ""].map(String::from).to_vec()];
        for t in &timing {
            let ttft = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), format_us);
            rows.push(vec![
                format!("  {}", t.span),
                change(ttft(t.recorded_ttft_us), ttft(t.replayed_ttft_us)),
                change(
                    format_us(t.recorded_duration_us),
                    format_us(t.replayed_duration_us),
                ),
                if t.is_unchanged() { "" } else { "*" }.to_owned(),
            ]);
        }
        write!(out, "{}", table(&rows, &[Align::Left; 4]))?;
    }
    writeln!(
        out,
        "{}",
        match (same, same_timing) {
            (true, true) => "the traces are the same",
            (true, false) => "the traces are the same apart from timing (ignored: --ignore-timing)",
            (false, _) if spans.is_empty() => {
                "the traces differ only in timing (`--ignore-timing` ignores that)"
            }
            (false, _) => "the traces differ",
        }
    )?;
    Ok(outcome)
}

/// `a → b`, or just `a` when they are equal.
fn change(old: String, new: String) -> String {
    if old == new {
        old
    } else {
        format!("{old} → {new}")
    }
}
