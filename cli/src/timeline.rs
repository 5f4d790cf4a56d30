//! `tracedeck timeline`: one trace as a waterfall picture (SVG).

use std::io::Write;

use crate::Outcome;
use crate::args::TimelineArgs;
use crate::cassettes::{open, resolve_one};
use crate::error::CliError;
use crate::store::Location;
use crate::text::{count, short_hash};

/// Runs `timeline` on the store at `location`.
pub fn run(
    location: &Location,
    args: &TimelineArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let store = open(location)?;
    let stored = resolve_one(&store, &args.target)?;
    let svg = stored.trace.timeline_svg();
    let Some(path) = &args.output else {
        out.write_all(svg.as_bytes())?;
        return Ok(Outcome::Clean);
    };
    std::fs::write(path, svg).map_err(|source| CliError::WriteFile {
        path: path.clone(),
        source,
    })?;
    let parts: usize = stored.trace.spans.iter().map(|s| s.parts.len()).sum();
    writeln!(
        out,
        "wrote {} ({} · {} · {}) to {}",
        short_hash(&stored.hash),
        stored.key(),
        count(stored.trace.spans.len(), "span"),
        count(parts, "streamed part"),
        path.display()
    )?;
    Ok(Outcome::Clean)
}
