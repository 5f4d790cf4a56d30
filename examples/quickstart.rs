//! tracedeck in one run: record a concurrent chat session over real HTTP,
//! then replay it on the virtual clock.
//!
//! ```sh
//! cargo run --example quickstart                        # no network, no key
//! TRACEDECK_MODE=record cargo run --example quickstart  # records the eight turns again
//! cargo run --example quickstart -- --live              # records against the real API (needs OPENAI_API_KEY)
//! ```
//!
//! It honours `TRACEDECK_MODE` (contract 8): `auto` (its default, even on
//! CI: its live model is a local simulator) records the turns that have no
//! cassette yet and replays the rest; `record` records all eight again, each
//! new cassette replacing the old one of its question, so
//! `cassettes/quickstart/chat-turn/` holds exactly eight after any number
//! of runs; `replay` never records; `passthrough` calls the model and
//! records nothing. `--live` without `TRACEDECK_MODE` means `record`.
//!
//! 1. **Record.** The turns to record (see above) run concurrently, each under
//!    `with_span("chat-turn", question, …)`, through one shared `Recorder`
//!    wrapping the real `OpenAi` adapter. Without `--live` the adapter talks
//!    to an OpenAI-compatible simulator on loopback that streams like a hosted
//!    model (headers after ~300 ms, first token after ~500 ms, ~30 tokens
//!    20 ms apart, a tool call when a question asks for the weather). Every
//!    trace is written to the cassette folder in the background.
//! 2. **Replay.** `replay` feeds each recorded question back through the same
//!    `chat_turn` function, serving its model calls from the cassettes at
//!    their recorded offsets on tokio's paused clock: instant, exact, offline.
//!    It prints each replayed span tree, with TTFT per call, and the report.
//!
//! Run it again and it replays what it recorded, without recording again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use tracedeck::model::{ContentPart, Message, ResponseAccumulator, Role, ToolDefinition};
use tracedeck::providers::OpenAi;
use tracedeck::replay::Replayer;
use tracedeck::testing::OpenAiSimulator;
use tracedeck::{
    Collector, Mode, Model, ModelError, ModelRequest, Recorder, ReplayReport, Sink, Store, replay,
    with_span,
};

/// Where the quickstart keeps its cassettes.
pub const CASSETTES: &str = "cassettes/quickstart";
/// The key of every recorded turn.
pub const KEY: &str = "chat-turn";
/// The model asked.
const MODEL: &str = "gpt-4o-mini";

/// The eight questions; the weather ones make the model call a tool.
pub const QUESTIONS: [&str; 8] = [
    "What is tokio, in two sentences?",
    "What's the weather in Lisbon?",
    "Why do tests of LLM apps flake?",
    "How should I think about time to first token?",
    "What's the weather in Oslo?",
    "Why stream model output at all?",
    "What makes a good unit test?",
    "What's the weather in Nairobi?",
];

/// Parts streamed so far, for the progress line.
static PARTS: AtomicUsize = AtomicUsize::new(0);

fn weather_tool() -> ToolDefinition {
    ToolDefinition::new(
        "get_weather",
        "The current weather in a city",
        json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        }),
    )
}

/// The application code under test: one chat turn, with a tool round trip
/// when the model asks for one. It knows nothing of recording or replay.
pub async fn chat_turn(question: String, model: Arc<dyn Model>) -> Result<String, ModelError> {
    let mut request = ModelRequest::new(MODEL)
        .system("You are a concise assistant. Use tools when they help.")
        .user(question)
        .tool(weather_tool());
    // At most one tool round trip, then the answer.
    for _ in 0..2 {
        let mut parts = model.stream(request.clone()).await?;
        let mut answer = ResponseAccumulator::new(model.info());
        while let Some(part) = parts.next().await {
            answer.push(&part?);
            PARTS.fetch_add(1, Ordering::Relaxed);
        }
        let answer = answer.finish();
        let Some(call) = answer.tool_calls.first().cloned() else {
            return Ok(answer.text);
        };
        let result = with_span("tool/get_weather", &call.arguments, async {
            get_weather(&call.arguments)
        })
        .await;
        request = request
            .message(Message {
                role: Role::Assistant,
                content: vec![ContentPart::ToolCall {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                }],
            })
            .message(Message::tool_result(call.id, result.to_string()));
    }
    Err(ModelError::other("the model kept calling tools"))
}

/// A stand-in weather service: deterministic, so replays match.
fn get_weather(arguments: &serde_json::Value) -> serde_json::Value {
    let city = arguments["city"].as_str().unwrap_or("somewhere");
    let temp_c = 8 + (city.len() * 3) % 20;
    json!({"city": city, "temp_c": temp_c, "sky": "partly cloudy"})
}

/// Where to record from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The loopback simulator.
    Simulator,
    /// The real OpenAI API (`OPENAI_API_KEY`).
    Live,
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    /// How many turns were recorded in this run (0 when it only replayed).
    pub recorded: usize,
    /// The replay of every recorded turn.
    pub report: ReplayReport,
}

/// Runs the quickstart against the cassette folder `dir` in `mode`,
/// printing to `out`: records what `mode` says (every turn in `Record`,
/// the turns with no cassette yet in `Auto`, none in `Replay`), then replays
/// the folder. `Passthrough` records nothing and replays the turns it just
/// made, from memory.
pub fn run(
    dir: &Path,
    source: Source,
    mode: Mode,
    out: &mut dyn Write,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let store = Store::open(dir)?;
    let recorded_questions: Vec<String> = store
        .traces(KEY)?
        .traces
        .iter()
        .filter_map(|t| t.trace.root().input.as_str().map(str::to_owned))
        .collect();
    let existing = recorded_questions.len();
    let to_record: Vec<&str> = match mode {
        Mode::Record | Mode::Passthrough => QUESTIONS.to_vec(),
        Mode::Auto => QUESTIONS
            .into_iter()
            .filter(|q| !recorded_questions.iter().any(|r| r == q))
            .collect(),
        _ => Vec::new(),
    };
    if mode == Mode::Replay && existing == 0 {
        return Err(format!(
            "no recorded turns in {}, and TRACEDECK_MODE=replay records none: \
             run with TRACEDECK_MODE=auto (or record) first",
            dir.display()
        )
        .into());
    }
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    };
    if mode == Mode::Passthrough {
        let collector = Collector::new();
        runtime()?.block_on(record(&store, collector.clone(), source, &to_record, out))?;
        writeln!(
            out,
            "\npassthrough: nothing was recorded; replaying the turns just made …"
        )?;
        let report = tracedeck::testing::run_paused(
            Replayer::from_traces(KEY, collector.take()).run(chat_turn),
        )?;
        write!(out, "{report}")?;
        return Ok(Outcome {
            recorded: 0,
            report,
        });
    }
    let recorded = if to_record.is_empty() {
        writeln!(
            out,
            "{existing} recorded turns in {}: replaying them (`TRACEDECK_MODE=record` records them again)",
            dir.display()
        )?;
        0
    } else {
        runtime()?.block_on(record(&store, store.sink(), source, &to_record, out))?
    };

    writeln!(out, "\nreplaying `{KEY}` on tokio's paused clock …")?;
    let started = Instant::now();
    let report = tracedeck::testing::run_paused(replay(&store, KEY, chat_turn))?;
    for trace in &report.traces {
        writeln!(out)?;
        let question = trace.recorded.root().input.as_str().unwrap_or_default();
        writeln!(out, "{question}")?;
        match &trace.replayed {
            Some(replayed) => write!(out, "{}", replayed.render())?,
            None => writeln!(out, "(the replay did not finish)")?,
        }
    }
    writeln!(out)?;
    write!(out, "{report}")?;
    if report
        .traces
        .iter()
        .any(|t| t.llm_timings.iter().any(|l| !l.is_unchanged()))
    {
        writeln!(
            out,
            "(⏱ lines: tokio timers tick in whole milliseconds, so a recording made on the real \
             clock replays each part at its offset rounded up to the next millisecond)"
        )?;
    }
    writeln!(
        out,
        "replayed {} turns in {:.0?} of wall-clock time; inspect the cassettes with `cargo run -p tracedeck-cli -- ls {}`",
        report.traces.len(),
        started.elapsed(),
        dir.display()
    )?;
    writeln!(
        out,
        "one cassette per test: `#[tracedeck::test]` in tests/per_test_cassette.rs (`cargo test --test per_test_cassette`)"
    )?;
    Ok(Outcome { recorded, report })
}

/// Records `questions` concurrently through one shared recorder into
/// `sink` (the store's, or a collector in `Passthrough`), with a progress
/// line, and waits until every trace is delivered. Each new cassette
/// replaces the store's old one of the same question.
async fn record(
    store: &Store,
    sink: impl Sink,
    source: Source,
    questions: &[&str],
    out: &mut dyn Write,
) -> Result<usize, Box<dyn std::error::Error>> {
    let simulator;
    let openai = match source {
        Source::Live => OpenAi::from_env(MODEL)?,
        Source::Simulator => {
            simulator = OpenAiSimulator::start().await?;
            OpenAi::new(MODEL)
                .base_url(simulator.base_url())
                .api_key("simulator-key")
        }
    };
    let from = match source {
        Source::Live => "the OpenAI API".to_owned(),
        Source::Simulator => "a local OpenAI-compatible simulator".to_owned(),
    };
    writeln!(
        out,
        "recording {} turns from {from} into {} …",
        questions.len(),
        store.dir().display()
    )?;

    // One recorder for the whole program: each call lands under its own turn.
    let recorder = Arc::new(Recorder::new(openai, sink));
    let model: Arc<dyn Model> = recorder.clone();
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let turns: Vec<_> = questions
        .iter()
        .map(|question| {
            let model = Arc::clone(&model);
            let done = Arc::clone(&done);
            let question = question.to_string();
            tokio::spawn(async move {
                let answer = with_span(KEY, &question, chat_turn(question.clone(), model)).await;
                done.fetch_add(1, Ordering::Relaxed);
                answer
            })
        })
        .collect();
    let all = futures::future::join_all(turns);
    tokio::pin!(all);
    let results = loop {
        tokio::select! {
            results = &mut all => break results,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                progress(out, done.load(Ordering::Relaxed), questions.len(), started)?;
            }
        }
    };
    progress(out, done.load(Ordering::Relaxed), questions.len(), started)?;
    writeln!(out)?;
    for (question, result) in questions.iter().zip(results) {
        if let Err(e) = result? {
            writeln!(out, "  {question}: failed: {e}")?;
        }
    }
    // Traces are written in the background: wait until every one is on disk.
    let flushed = recorder.flush().await;
    if !flushed.is_clean() {
        return Err(format!(
            "{} traces could not be written: {:?}",
            flushed.lost, flushed.errors
        )
        .into());
    }
    writeln!(out, "recorded {} traces", flushed.delivered)?;
    Ok(flushed.delivered as usize)
}

fn progress(
    out: &mut dyn Write,
    done: usize,
    total: usize,
    started: Instant,
) -> std::io::Result<()> {
    write!(
        out,
        "\r  {done}/{total} turns done · {} parts streamed · {:.1}s",
        PARTS.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    )?;
    out.flush()
}

fn main() -> ExitCode {
    let live = std::env::args().skip(1).any(|a| a == "--live");
    let source = if live {
        Source::Live
    } else {
        Source::Simulator
    };
    let mode = match std::env::var(Mode::ENV_VAR) {
        Ok(value) if !value.trim().is_empty() => Mode::resolve(Some(&value), None),
        _ if live => Ok(Mode::Record),
        _ => Ok(Mode::Auto),
    };
    let mode = match mode {
        Ok(mode) => mode,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout();
    match run(&PathBuf::from(CASSETTES), source, mode, &mut out) {
        Ok(outcome) if outcome.report.is_unchanged() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
