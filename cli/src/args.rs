//! The command line: commands, arguments and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::store::Location;

/// Inspect, check and compare tracedeck cassettes.
///
/// A cassette folder holds one file per recorded trace, at
/// `<dir>/<key>/<sha256>.json`; a bucket shared through object storage
/// holds the same objects under a prefix (`--dir s3://bucket/prefix`). Name
/// a trace by its key (every trace of the key) or by its hash (the file
/// name; a unique prefix of 4 or more hex digits is enough).
#[derive(Debug, Parser)]
#[command(name = "tracedeck", version, propagate_version = true)]
#[command(
    after_help = "Exit status: 0 on success; 1 when `verify` finds a problem, `diff` a \
    difference or `prune` a file it cannot delete; 2 on an error.\n\nExamples:\n  tracedeck ls\n  tracedeck show chat-turn\n  \
    tracedeck verify\n  tracedeck timeline 3f2a9c -o turn.svg\n  tracedeck prune --yes\n  \
    tracedeck --dir s3://team-bucket/ci/cassettes ls\n\n\
    Object storage (--dir s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, \
    file:///absolute/folder) reads its settings from the environment, as the object_store \
    crate's builders do:\n  \
    S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (or \
    AWS_DEFAULT_REGION), AWS_ENDPOINT_URL (or AWS_ENDPOINT) for S3-compatible servers \
    (MinIO, moto, R2), AWS_ALLOW_HTTP=true for a plain-http endpoint\n  \
    GCS: GOOGLE_SERVICE_ACCOUNT (a key file's path), GOOGLE_SERVICE_ACCOUNT_KEY, \
    GOOGLE_APPLICATION_CREDENTIALS\n  \
    Azure: AZURE_STORAGE_ACCOUNT_NAME, AZURE_STORAGE_ACCOUNT_KEY\n\n\
    On object storage, `verify --fix` has nothing to remove (object writes leave no temporary \
    files) and `prune` is not available (replays note usage in a local folder only)."
)]
pub struct Cli {
    /// The cassette folder (one store), or an object-store URL such as
    /// `s3://bucket/prefix` (credentials, region and endpoint from the
    /// environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
    /// AWS_ENDPOINT_URL, AWS_ALLOW_HTTP; see below). Every command takes
    /// it; `ls`, `verify` and `prune` also take it as their argument.
    #[arg(
        long,
        global = true,
        env = "TRACEDECK_DIR",
        default_value = "cassettes",
        value_name = "DIR|URL"
    )]
    pub dir: Location,

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
    /// Record and replay model calls over HTTP, for any client in any
    /// language: a loopback proxy for OpenAI Chat Completions, Responses
    /// and Anthropic Messages.
    #[command(
        after_help = "Point the client's base URL at the proxy: http://127.0.0.1:8787/v1 for \
        OpenAI SDKs, http://127.0.0.1:8787 for Anthropic's. It serves /v1/chat/completions, \
        /v1/responses and /v1/messages.\n\n\
        record: each call goes to the upstream byte for byte (API keys go upstream only, never \
        into a cassette) and the answer streams back as it arrives, recorded with its part \
        timing. replay: the recorded answer is served at its recorded part offsets; a call \
        never recorded gets HTTP 404 with the diff against the closest recorded request. auto: \
        replay what is recorded, record the rest.\n\n\
        The cassette key is the x-tracedeck-key header, else a path prefix (/k/<key>/v1/...), \
        else the default key. A W3C traceparent header is recorded in the root span's input \
        (each request is its own trace).\n\n\
        Examples:\n  \
        tracedeck proxy --mode record --upstream https://api.openai.com\n  \
        tracedeck proxy --mode replay --speed instant\n  \
        curl -N -H 'content-type: application/json' -d @chat-request.json \\\n      \
        http://127.0.0.1:8787/k/chat-turn/v1/chat/completions"
    )]
    Proxy(ProxyArgs),
}

/// `tracedeck ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// The cassette folder or object-store URL (overrides --dir).
    #[arg(value_name = "DIR|URL")]
    pub dir: Option<Location>,

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
    /// The cassette folder or object-store URL (overrides --dir).
    #[arg(value_name = "DIR|URL")]
    pub dir: Option<Location>,

    /// First remove the temporary files crashed writers left behind (older
    /// than 10 minutes), saying which, and rebuild the store's lookup index
    /// (`.tracedeck/index/`), then verify. On object storage there are no
    /// temporary files (an object is written whole or not at all) and no index.
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
    /// The cassette folder or object-store URL (overrides --dir).
    #[arg(value_name = "DIR|URL")]
    pub dir: Option<Location>,

    /// Delete the unused cassettes instead of only listing them.
    #[arg(long, conflicts_with = "reset")]
    pub yes: bool,

    /// Clear the usage ledger: every cassette counts as unused until a
    /// replay uses it again.
    #[arg(long)]
    pub reset: bool,
}

/// `tracedeck proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// `record`, `replay`, `auto` (replay what is recorded, record the rest)
    /// or `passthrough`. Default: TRACEDECK_MODE, else `replay` when CI is
    /// set, else `auto`.
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,

    /// The API's origin calls are forwarded to, e.g. `https://api.openai.com`
    /// or `https://api.anthropic.com`; the request's path (`/v1/...`) is
    /// appended. Not needed with `--mode replay`.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,

    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,

    /// Replay pace: how many times faster than recorded (`1` as recorded,
    /// `2` twice as fast, `0.5` half as fast), `0` or `instant` with no waiting.
    #[arg(long, default_value = "1", value_name = "TIMES|instant")]
    pub speed: String,

    /// The key of requests that name none (by header or path prefix).
    #[arg(long, default_value = "proxy", value_name = "KEY")]
    pub key: String,
}
