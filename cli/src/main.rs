//! `tracedeck`: inspect, check and compare a folder of cassettes, or the
//! same cassettes on object storage (`--dir s3://bucket/prefix`, feature
//! `object-store`, on by default).
//!
//! ```text
//! tracedeck ls                      keys, trace counts, sizes, newest recording
//! tracedeck show chat-turn          span trees with durations, TTFT, tokens, status
//! tracedeck verify                  re-hash every file, check the format, scan for secrets
//! tracedeck stats chat-turn         p50 / p95 / max of TTFT and duration, tokens, per model
//! tracedeck diff 3f2a9c 81bd04      span-tree diff of two traces
//! tracedeck timeline 3f2a9c -o t.svg  a waterfall picture of one trace
//! tracedeck prune [--yes|--reset]   cassettes no replay used since the ledger was reset
//! tracedeck proxy --mode record --upstream https://api.openai.com
//!                                   record and replay any HTTP client (see `tracedeck_cli::proxy`)
//! ```
//!
//! Exit status: 0 on success; 1 when `verify` finds a problem, `diff`
//! finds a difference or `prune --yes` cannot delete a file; 2 on an error
//! (bad arguments, missing folder or trace, unreadable file, a folder that
//! holds several stores).

mod args;
mod cassettes;
mod diff;
mod error;
mod git;
mod ls;
mod proxy_cmd;
mod prune;
mod show;
mod stats;
mod store;
mod text;
mod timeline;
mod verify;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use error::CliError;

/// What a command found, as the exit status tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Done; nothing to report (exit 0).
    Clean,
    /// Done, and found problems or differences (exit 1).
    Findings,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = run(&cli, &mut out).and_then(|outcome| {
        out.flush().map_err(CliError::Output)?;
        Ok(outcome)
    });
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        // `tracedeck show … | head`: the reader left; that is not a failure.
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            drop(out);
            let _ = writeln!(io::stderr(), "error: {err}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli, out: &mut dyn Write) -> Result<Outcome, CliError> {
    match &cli.command {
        Command::Ls(args) => ls::run(args.dir.as_ref().unwrap_or(&cli.dir), args, out),
        Command::Show(args) => show::run(&cli.dir, args, out),
        Command::Verify(args) => verify::run(args.dir.as_ref().unwrap_or(&cli.dir), args, out),
        Command::Stats(args) => stats::run(&cli.dir, args, out),
        Command::Diff(args) => diff::run(&cli.dir, args, out),
        Command::Timeline(args) => timeline::run(&cli.dir, args, out),
        Command::Prune(args) => prune::run(args.dir.as_ref().unwrap_or(&cli.dir), args, out),
        Command::Proxy(args) => proxy_cmd::run(&cli.dir, args, out),
    }
}
