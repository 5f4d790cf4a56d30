//! A rig agent with a tool, recorded then replayed: no network, no key.
//!
//! ```sh
//! cargo run --example rig_agent --features rig,testing
//! ```
//!
//! 1. **Record.** Three questions go to a rig-agent `Agent` with a
//!    `get_weather` tool, streamed (`agent.prompt(q).stream()`). Its model
//!    is `tracedeck::adapters::rig::completion_model` over a `Recorder`
//!    around tracedeck's `OpenAi` adapter, talking to the bundled
//!    OpenAI-compatible simulator on loopback (it streams like a hosted
//!    model and calls the tool when asked about the weather). Each turn runs
//!    under `with_span_result("rig-agent-turn", question, …)`, and its traces
//!    are written to a cassette store in a temporary folder.
//! 2. **Replay.** The simulator is gone. `replay` runs the same agent code
//!    once per recorded question, its model calls served from the store at
//!    their recorded offsets on tokio's paused clock, and prints each
//!    replayed span tree (with TTFT per model call) and the report.

use std::process::ExitCode;
use std::sync::Arc;

use futures::StreamExt;
use rig_agent::AgentBuilder;
use rig_agent::agent::MultiTurnStreamItem;
use rig_core::tool::PortableTool;
use serde::Deserialize;
use serde_json::{Value, json};
use tracedeck::adapters::rig::completion_model;
use tracedeck::cassette::Store;
use tracedeck::context::with_span_result;
use tracedeck::providers::OpenAi;
use tracedeck::replay::replay;
use tracedeck::testing::OpenAiSimulator;
use tracedeck::{Model, Recorder, with_span};

/// The key every recorded turn is stored under.
const KEY: &str = "rig-agent-turn";
/// The model asked.
const MODEL: &str = "gpt-4o-mini";
/// The questions; the weather ones make the model call the tool.
const QUESTIONS: [&str; 3] = [
    "What's the weather in Lisbon?",
    "Why stream model output at all?",
    "What's the weather in Oslo?",
];

/// The weather tool: a deterministic stand-in for a weather service, its
/// body in a span of its own.
struct Weather;

#[derive(Deserialize)]
struct WeatherArgs {
    city: String,
}

impl PortableTool for Weather {
    const NAME: &'static str = "get_weather";
    type Args = WeatherArgs;
    type Output = Value;
    type Error = std::convert::Infallible;

    fn description(&self) -> String {
        "The current weather in a city".to_owned()
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        })
    }

    async fn call(&self, args: WeatherArgs) -> Result<Value, Self::Error> {
        Ok(with_span("tool/get_weather", &args.city, async {
            let temp_c = 8 + (args.city.len() * 3) % 20;
            json!({"city": args.city, "temp_c": temp_c, "sky": "partly cloudy"})
        })
        .await)
    }
}

/// The application code: one streamed agent turn over `model`. It knows
/// nothing of recording or replay.
async fn agent_turn(question: String, model: Arc<dyn Model>) -> Result<String, String> {
    let agent = AgentBuilder::new(completion_model(model))
        .preamble("You are a concise assistant. Use tools when they help.")
        .tool(Weather)
        .build();
    let mut stream = agent.prompt(question.as_str()).max_turns(3).stream();
    let mut answer = None;
    while let Some(item) = stream.next().await {
        if let MultiTurnStreamItem::FinalResponse(response) = item.map_err(|e| e.to_string())? {
            answer = Some(response.output());
        }
    }
    answer.ok_or_else(|| "the run ended without an answer".to_owned())
}

/// Records every question from the simulator into `store`.
async fn record(store: &Store) -> Result<(), Box<dyn std::error::Error>> {
    let simulator = OpenAiSimulator::start().await?;
    let openai = OpenAi::new(MODEL)
        .base_url(simulator.base_url())
        .api_key("simulator-key");
    let recorder = Arc::new(Recorder::new(openai, store.sink()));
    for question in QUESTIONS {
        let answer = with_span_result(
            KEY,
            question,
            agent_turn(question.to_owned(), recorder.clone()),
        )
        .await?;
        println!("  {question}\n    → {answer}");
    }
    let flushed = recorder.flush().await;
    if !flushed.is_clean() {
        return Err(format!("traces lost: {:?}", flushed.errors).into());
    }
    println!("recorded {} traces", flushed.delivered);
    Ok(())
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    // The workspace's dev-dependencies turn on reqwest 0.13's rustls with
    // no default crypto provider: pick one, as such an application would.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;

    println!(
        "recording {} rig agent turns from a local OpenAI-compatible simulator into {} …",
        QUESTIONS.len(),
        dir.path().display()
    );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(record(&store))?;

    println!("\nreplaying `{KEY}` offline on tokio's paused clock …");
    let report = tracedeck::testing::run_paused(replay(&store, KEY, agent_turn))?;
    for trace in &report.traces {
        println!();
        println!(
            "{}",
            trace.recorded.root().input.as_str().unwrap_or_default()
        );
        match &trace.replayed {
            Some(replayed) => print!("{}", replayed.render()),
            None => println!("(the replay did not finish)"),
        }
    }
    println!();
    print!("{report}");
    // A recording on the real clock replays each part at its offset rounded
    // up to tokio's whole milliseconds, so only the answers must match.
    Ok(report.unreadable.is_empty() && report.traces.iter().all(|t| t.output_unchanged()))
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
