//! `tracedeck show`: the span trees of a key's traces, or of one trace.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use tracedeck::cassette::StoredTrace;
use tracedeck::span::format_us;
use tracedeck::{Span, StreamPart, Trace};

use crate::Outcome;
use crate::args::ShowArgs;
use crate::cassettes::{open_to_look_up, resolve, several_stores_or};
use crate::error::CliError;
use crate::store::Location;
use crate::text::{count, cut, preview, short_hash};

/// The widest root input or output shown on its line.
const PREVIEW_CHARS: usize = 100;
/// The widest part content shown in `--parts`.
const PART_CHARS: usize = 60;

/// One trace as `--json` prints it.
#[derive(Debug, Serialize)]
struct ShownTrace<'a> {
    hash: &'a str,
    path: &'a Path,
    key: &'a str,
    trace: &'a Trace,
}

/// Runs `show` on the store at `location`.
pub fn run(location: &Location, args: &ShowArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    // A folder of stores is found out only if the lookup fails: a lookup
    // that finds its cassette needs no walk over every key.
    let store = open_to_look_up(location)?;
    let traces = resolve(&store, &args.target).map_err(|e| several_stores_or(&store, e))?;
    if args.json {
        let shown: Vec<ShownTrace<'_>> = traces
            .iter()
            .map(|t| ShownTrace {
                hash: &t.hash,
                path: &t.path,
                key: t.key(),
                trace: &t.trace,
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &shown)?;
        writeln!(out)?;
        return Ok(Outcome::Clean);
    }
    if traces.len() > 1 {
        writeln!(
            out,
            "{} · {}",
            traces[0].key(),
            count(traces.len(), "trace")
        )?;
        writeln!(out)?;
    }
    for (i, stored) in traces.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        show_trace(stored, args.parts, out)?;
    }
    Ok(Outcome::Clean)
}

fn show_trace(stored: &StoredTrace, parts: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let trace = &stored.trace;
    let root = trace.root();
    let calls = trace.llm_spans().count();
    writeln!(
        out,
        "trace {} · {} · {} · {}",
        short_hash(&stored.hash),
        trace.key(),
        count(calls, "model call"),
        format_us(trace.duration_us()),
    )?;
    writeln!(out, "file   {}", stored.path.display())?;
    writeln!(out, "input  {}", preview(&root.input, PREVIEW_CHARS))?;
    if let Some(output) = &root.output {
        writeln!(out, "output {}", preview(output, PREVIEW_CHARS))?;
    }
    write!(out, "{}", trace.render())?;
    if parts {
        for span in trace.spans.iter().filter(|s| !s.parts.is_empty()) {
            show_parts(span, out)?;
        }
    }
    Ok(())
}

/// Every part of `span` with its arrival time from the call's start; the
/// part that set TTFT is marked.
fn show_parts(span: &Span, out: &mut dyn Write) -> Result<(), CliError> {
    writeln!(out, "parts of {} {}:", span.key, span.id)?;
    let mut ttft_marked = false;
    for recorded in &span.parts {
        let part = &recorded.part;
        let mark = if !ttft_marked && part.is_content() {
            ttft_marked = true;
            "  ← first token"
        } else {
            ""
        };
        let detail = part_detail(part);
        let line = format!(
            "  {:>9}  {:<16} {detail}{mark}",
            format!("+{}", format_us(recorded.offset_us)),
            part_type(part),
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The part's type as cassettes spell it (`text_delta`, `finish`, ...).
fn part_type(part: &StreamPart) -> String {
    serde_json::to_value(part)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "part".to_owned())
}

/// What a part carries, in a few words.
fn part_detail(part: &StreamPart) -> String {
    let quoted = |text: &str| cut(&format!("{text:?}"), PART_CHARS);
    match part {
        StreamPart::TextDelta { text }
        | StreamPart::ReasoningDelta { text }
        | StreamPart::RefusalDelta { text } => quoted(text),
        StreamPart::RedactedReasoning { data } => format!("{} bytes", data.len()),
        StreamPart::ToolCallStart { id, name } => format!("{name} ({id})"),
        StreamPart::ToolCallDelta { arguments, .. } => quoted(arguments),
        StreamPart::ResponseMetadata { id, model } => [id.as_deref(), model.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
        StreamPart::RoleDelta { role } => format!("{role:?}").to_lowercase(),
        StreamPart::BlockStart { index } | StreamPart::BlockStop { index } => {
            format!("block {index}")
        }
        StreamPart::Usage { usage } => {
            format!("tokens {}→{}", usage.input_tokens, usage.output_tokens)
        }
        StreamPart::Finish { reason, usage } => match usage {
            Some(u) => format!(
                "{} · tokens {}→{}",
                reason.raw, u.input_tokens, u.output_tokens
            ),
            None => reason.raw.clone(),
        },
        // Framing, and parts a newer library version may add.
        _ => String::new(),
    }
}
