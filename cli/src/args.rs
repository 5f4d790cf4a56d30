//! The command line: commands, arguments and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Inspect, check and compare tracedeck cassettes.
///
/// A cassette folder holds one file per recorded trace, at
/// `<dir>/<key>/<sha256>.json`. Name a trace by its key (every trace of the
/// key) or by its hash (the file name; a unique prefix of 4 or more hex
/// digits is enough).
#[derive(Debug, Parser)]
#[command(name = "tracedeck", version, propagate_version = true)]
#[command(
    after_help = "Exit status: 0 on success; 1 when `verify` finds a problem, `diff` a \
    difference or `prune` a file it cannot delete; 2 on an error.\n\nExamples:\n  tracedeck ls\n  tracedeck show chat-turn\n  \
    tracedeck verify\n  tracedeck timeline 3f2a9c -o turn.svg\n  tracedeck prune --yes"
)]
pub struct Cli {
    /// The cassette folder (one store). Every command takes it; `ls`,
    /// `verify` and `prune` also take it as their argument.
    #[arg(
        long,
        global = true,
        env = "TRACEDECK_DIR",
        default_value = "cassettes",
        value_name = "DIR"
    )]
    pub dir: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List keys with their trace counts, sizes and newest recording.
    Ls(LsArgs),
    /// Print the span tree of a key's traces or of one trace: durations,
    /// TTFT, tokens and status of every span.
    Show(ShowArgs),
    /// Check every cassette: its hash, its format, and no secret-looking
    /// strings (API keys, bearer tokens). Exits 1 on any problem, naming the file.
    Verify(VerifyArgs),
    /// Latency and tokens per model over a key's traces: p50 / p95 / max of
    /// time to first token and of duration.
    Stats(StatsArgs),
    /// Compare two traces span by span: spans added, removed or changed, and
    /// the TTFT and duration of every model call. Exits 1 when they differ.
    Diff(DiffArgs),
    /// Draw one trace as a waterfall (SVG): a bar per span, a tick per
    /// streamed part, time to first token marked.
    Timeline(TimelineArgs),
    /// List the cassettes no replay used since the usage ledger was reset
    /// (`--yes` deletes them, `--reset` starts the ledger again).
    Prune(PruneArgs),
}

/// `tracedeck ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// The cassette folder (overrides --dir).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `tracedeck show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A key (shows each of its traces) or a trace's hash or unique hash prefix.
    #[arg(value_name = "KEY|HASH")]
    pub target: String,

    /// Also list every streamed part of each model call, with its arrival time.
    #[arg(long)]
    pub parts: bool,

    /// Print the traces as JSON: `[{"hash", "path", "key", "trace"}]`.
    #[arg(long, conflicts_with = "parts")]
    pub json: bool,
}

/// `tracedeck verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The cassette folder (overrides --dir).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// First remove the temporary files crashed writers left behind (older
    /// than 10 minutes), saying which, and rebuild the store's lookup index
    /// (`.tracedeck/index/`), then verify.
    #[arg(long)]
    pub fix: bool,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tracedeck stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The keys to summarize together; every key when none is given.
    #[arg(value_name = "KEY")]
    pub keys: Vec<String>,

    /// Print the statistics as JSON (times in microseconds).
    #[arg(long)]
    pub json: bool,
}

/// `tracedeck diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The first (old) trace: a hash, a unique hash prefix, or a key with exactly one trace.
    #[arg(value_name = "A")]
    pub old: String,

    /// The second (new) trace, named the same ways.
    #[arg(value_name = "B")]
    pub new: String,

    /// Print the differences as JSON.
    #[arg(long)]
    pub json: bool,

    /// Treat traces whose only differences are timing (part offsets, TTFT,
    /// durations) as the same: exit 0 and say so.
    #[arg(long)]
    pub ignore_timing: bool,
}

/// `tracedeck timeline`.
#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// The trace: a hash, a unique hash prefix, or a key with exactly one trace.
    #[arg(value_name = "HASH")]
    pub target: String,

    /// Where to write the SVG; standard output when not given.
    #[arg(short, long, value_name = "FILE.svg")]
    pub output: Option<PathBuf>,
}

/// `tracedeck prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The cassette folder (overrides --dir).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Delete the unused cassettes instead of only listing them.
    #[arg(long, conflicts_with = "reset")]
    pub yes: bool,

    /// Clear the usage ledger: every cassette counts as unused until a
    /// replay uses it again.
    #[arg(long)]
    pub reset: bool,
}
