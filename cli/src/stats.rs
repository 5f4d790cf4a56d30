//! `tracedeck stats`: latency and tokens per model over one or more keys.

use std::io::Write;

use serde::Serialize;
use tracedeck::span::TraceStats;
use tracedeck::span::{Percentiles, format_us};

use crate::Outcome;
use crate::args::StatsArgs;
use crate::cassettes::{open, resolve, warn};
use crate::error::CliError;
use crate::store::Location;
use crate::text::{Align, count, table};

/// The statistics as `--json` prints them.
#[derive(Debug, Serialize)]
struct JsonStats<'a> {
    keys: &'a [String],
    #[serde(flatten)]
    stats: &'a TraceStats,
}

/// Runs `stats` on the store at `location`.
pub fn run(
    location: &Location,
    args: &StatsArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let store = open(location)?;
    let keys = if args.keys.is_empty() {
        store.keys()?
    } else {
        args.keys.clone()
    };
    let mut traces = Vec::new();
    for key in &keys {
        traces.extend(resolve(&store, key)?.into_iter().map(|t| t.trace));
    }
    let stats = TraceStats::of(&traces);

    if args.json {
        serde_json::to_writer_pretty(
            &mut *out,
            &JsonStats {
                keys: &keys,
                stats: &stats,
            },
        )?;
        writeln!(out)?;
        return Ok(Outcome::Clean);
    }
    if keys.is_empty() {
        warn(&format!("no cassettes in {}", store.dir().display()));
        return Ok(Outcome::Clean);
    }
    writeln!(
        out,
        "{} · {} · {}",
        keys.join(", "),
        count(stats.traces, "trace"),
        count(stats.calls, "model call")
    )?;
    if let Some(duration) = &stats.duration {
        writeln!(out, "trace duration  {}", percentiles(duration))?;
    }
    for model in &stats.models {
        writeln!(out)?;
        let mut outcomes = vec![format!("{} streamed", model.streamed)];
        if model.errors > 0 {
            outcomes.push(count(model.errors, "error"));
        }
        if model.cancelled > 0 {
            outcomes.push(format!("{} cancelled", model.cancelled));
        }
        writeln!(
            out,
            "{} · {} ({})",
            model.model,
            count(model.calls, "call"),
            outcomes.join(", ")
        )?;
        let mut rows = vec![
            ["", "p50", "p95", "max", "calls"]
                .map(String::from)
                .to_vec(),
        ];
        if let Some(ttft) = &model.ttft {
            rows.push(row("  ttft", ttft));
        } else {
            rows.push(vec![
                "  ttft".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "0".into(),
            ]);
        }
        rows.push(row("  duration", &model.duration));
        write!(
            out,
            "{}",
            table(
                &rows,
                &[
                    Align::Left,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Right
                ]
            )
        )?;
        let tokens = &model.tokens;
        writeln!(
            out,
            "  tokens    {} in · {} out · {} total ({} reported usage)",
            tokens.input,
            tokens.output,
            tokens.total(),
            count(tokens.calls_with_usage, "call")
        )?;
    }
    Ok(Outcome::Clean)
}

fn row(label: &str, p: &Percentiles) -> Vec<String> {
    vec![
        label.to_owned(),
        format_us(p.p50_us),
        format_us(p.p95_us),
        format_us(p.max_us),
        p.count.to_string(),
    ]
}

fn percentiles(p: &Percentiles) -> String {
    format!(
        "p50 {} · p95 {} · max {}",
        format_us(p.p50_us),
        format_us(p.p95_us),
        format_us(p.max_us)
    )
}
