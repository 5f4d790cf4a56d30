//! An existing async-openai program, recorded and replayed by tracedeck
//! without changing a line of its LLM code.
//!
//! ```sh
//! cargo run --example async_openai --features async-openai,testing
//! ```
//!
//! Offline, no key. The program (`turn`) answers a question with a streamed
//! chat completion (`client.chat().create_stream(..)`), then asks for a
//! one-line summary through the Responses API (`client.responses().create(..)`).
//! Its only tie to tracedeck is the client it is given:
//! `tracedeck::adapters::async_openai::client(model)`, an ordinary
//! `async_openai::Client` whose calls are served in process by a tracedeck
//! `Model`.
//!
//! 1. **Record.** Three turns run concurrently on the real clock, each under
//!    `with_span("turn", question, …)`, on one shared client whose model is
//!    a `Recorder` around tracedeck's `OpenAi` adapter, talking to the
//!    bundled OpenAI-compatible simulator on loopback (it streams like a
//!    hosted model: headers after ~300 ms, first token after ~500 ms). Both
//!    APIs' calls land as llm spans under their own turn, written to a
//!    cassette store in a temporary folder.
//! 2. **Replay.** The simulator is stopped. The same program runs again on
//!    tokio's paused clock over a `CassetteModel` in `Replay` mode: every
//!    call is served from the store at its recorded offsets, with no server
//!    and no network. Each replayed span tree is printed with its TTFT.

use std::error::Error;
use std::sync::Arc;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequestArgs,
};
use async_openai::types::responses::{CreateResponseArgs, EasyInputMessage, InputParam};
use futures::StreamExt;
use tracedeck::context::with_span_result;
use tracedeck::providers::OpenAi;
use tracedeck::testing::OpenAiSimulator;
use tracedeck::{CassetteModel, Collector, Mode, Model, Recorder, Store, Trace};

/// The key every turn is recorded under.
const KEY: &str = "turn";
/// The model asked.
const MODEL: &str = "gpt-4o-mini";
/// The questions, asked concurrently.
const QUESTIONS: [&str; 3] = [
    "What is tokio, in two sentences?",
    "Why do tests of LLM apps flake?",
    "How should I think about time to first token?",
];

/// The application code: one turn, over any async-openai client. It knows
/// nothing of recording or replay.
async fn turn(client: Client<OpenAIConfig>, question: String) -> Result<String, String> {
    // A streamed chat completion.
    let request = CreateChatCompletionRequestArgs::default()
        .model(MODEL)
        .messages(vec![
            ChatCompletionRequestSystemMessage::from("You are a concise assistant.").into(),
            ChatCompletionRequestUserMessage::from(question.as_str()).into(),
        ])
        .build()
        .map_err(|e| e.to_string())?;
    let mut stream = client
        .chat()
        .create_stream(request)
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        for choice in chunk.choices {
            answer.extend(choice.delta.content);
        }
    }

    // A follow-up through the Responses API.
    let request = CreateResponseArgs::default()
        .model(MODEL)
        .instructions("Summarize in one line.")
        .input(InputParam::from([EasyInputMessage::from(answer.as_str())]))
        .build()
        .map_err(|e| e.to_string())?;
    let summary = client
        .responses()
        .create(request)
        .await
        .map_err(|e| e.to_string())?;
    Ok(summary.output_text().unwrap_or_default())
}

/// Runs every question concurrently through `model`, each as a `turn` span;
/// returns the summaries, in question order.
async fn run_turns(model: Arc<dyn Model>) -> Result<Vec<String>, Box<dyn Error>> {
    let client = tracedeck::adapters::async_openai::client(model);
    let turns: Vec<_> = QUESTIONS
        .iter()
        .map(|question| {
            let (client, question) = (client.clone(), question.to_string());
            tokio::spawn(with_span_result(
                KEY,
                question.clone(),
                turn(client, question),
            ))
        })
        .collect();
    let mut summaries = Vec::new();
    for (question, answer) in QUESTIONS.iter().zip(futures::future::join_all(turns).await) {
        summaries.push(answer?.map_err(|e| format!("{question}: {e}"))?);
    }
    Ok(summaries)
}

fn main() -> Result<(), Box<dyn Error>> {
    // async-openai builds a reqwest 0.13 client; this workspace's
    // dev-dependencies turn on reqwest 0.13's rustls without a default
    // crypto provider, so the program picks one (no request is ever sent).
    let _ = rustls::crypto::ring::default_provider().install_default();

    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let (dead_url, recorded);

    // 1. Record, on the real clock, from the loopback simulator.
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        (dead_url, recorded) = runtime.block_on(async {
            let simulator = OpenAiSimulator::start().await?;
            let openai = OpenAi::new(MODEL)
                .base_url(simulator.base_url())
                .api_key("simulator-key");
            let recorder = Arc::new(Recorder::new(openai, store.sink()));
            println!(
                "recording {} concurrent async-openai turns into {} …",
                QUESTIONS.len(),
                dir.path().display()
            );
            let summaries = run_turns(recorder.clone()).await?;
            for (question, summary) in QUESTIONS.iter().zip(&summaries) {
                println!("  {question}\n    → {summary}");
            }
            let flushed = recorder.flush().await;
            if !flushed.is_clean() {
                return Err(format!("traces not written: {:?}", flushed.errors).into());
            }
            println!("recorded {} traces", flushed.delivered);
            Ok::<_, Box<dyn Error>>((simulator.base_url(), summaries))
            // The simulator stops here.
        })?;
    }

    // 2. Replay in Replay mode, on the paused clock, with no server: the
    // live model the cassette stands in front of points at the stopped
    // simulator, and is never called.
    println!("\nreplaying on tokio's paused clock, no server …");
    let replayed = Collector::new();
    let cassette = CassetteModel::on(store.clone())
        .mode(Mode::Replay)
        .key(KEY)
        .in_front_of(OpenAi::new(MODEL).base_url(dead_url).api_key("unused"))?;
    let model = Arc::new(Recorder::new(cassette, replayed.clone()));
    let summaries = tracedeck::testing::run_paused(run_turns(model))?;
    if summaries != recorded {
        return Err(format!("the replay answered {summaries:?}, not {recorded:?}").into());
    }
    println!("the replayed turns answered exactly as recorded; their span trees");
    println!(
        "(llm #1: chat().create_stream, llm #2: responses().create, each served at its recorded offsets):"
    );
    let mut traces: Vec<Trace> = replayed.traces_for(KEY);
    traces.sort_by_key(|t| t.root().input.to_string());
    for trace in &traces {
        let question = trace.root().input.as_str().unwrap_or_default();
        print!("\n{question}\n{}", trace.render());
    }
    Ok(())
}
