//! The deterministic session behind the committed example cassettes in
//! `cassettes/`: a small support assistant recorded through `ScriptedModel`s
//! on tokio's paused clock, so every run gives the same traces, byte for byte.
//!
//! It shows what the CLI and the docs need to show: streamed calls with
//! provider-like timing (headers, framing, then tokens), a tool call and the
//! tool run between two calls, two calls running concurrently under one
//! root, a non-streamed call, a stream that fails mid-way and one the
//! consumer drops early.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracedeck::model::{FinishReason, Message, ModelInfo, Role, ToolDefinition, Usage};
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, Recorder, Script, ScriptedModel, Sink, StreamPart,
    Trace, with_span,
};

const MS: Duration = Duration::from_millis(1);

/// A provider-like stream: headers after `open_ms`, framing at once, the first
/// token `first_ms` later, then one token every `gap_ms`.
fn stream_script(
    open_ms: u64,
    first_ms: u64,
    gap_ms: u64,
    tokens: &[&str],
    usage: Usage,
) -> Script {
    let mut script = Script::new()
        .open_after(MS * open_ms as u32)
        .part(StreamPart::StreamStart)
        .part(StreamPart::ResponseMetadata {
            id: Some("chatcmpl-example".into()),
            model: Some("gpt-4o-mini-2024-07-18".into()),
        })
        .part(StreamPart::RoleDelta {
            role: Role::Assistant,
        });
    for (i, token) in tokens.iter().enumerate() {
        let delay = if i == 0 { first_ms } else { gap_ms };
        script = script.part_after(MS * delay as u32, StreamPart::text(*token));
    }
    script
        .part_after(MS * gap_ms as u32, StreamPart::Usage { usage })
        .part(StreamPart::Finish {
            reason: FinishReason::stop(),
            usage: Some(usage),
        })
}

fn words(text: &'static str) -> Vec<&'static str> {
    text.split_inclusive(' ').collect()
}

const WEATHER_ANSWER: &str = "It is 18 °C and lightly cloudy in Paris right now, with a gentle breeze from the west. \
     Take a light jacket if you are out this evening, as it should cool down to about 12 °C.";
const HAIKU: &str =
    "Borrowed, never lost; \nlifetimes fold like paper cranes \nthe compiler sings.";
const DRAFT_REPLY: &str = "Hi Sam, thanks for flagging this. I have refunded the duplicate charge of 12.99 EUR; \
     it should reach your card within five working days. Sorry for the trouble!";
const LONG_SUMMARY: &str = "The thread discusses moving the nightly build to a new runner, \
     the flaky integration test in the billing service, and who owns the release notes this week. \
     Most people agree to pin the toolchain first.";

/// The script each request gets, chosen by what it asks.
fn script_for(req: &ModelRequest) -> Script {
    let last = req
        .messages
        .last()
        .map(Message::text_content)
        .unwrap_or_default();
    let has_tool_result = req.messages.iter().any(|m| m.role == Role::Tool);
    if req.model == "gpt-4.1-nano" {
        // The triage classifier: one non-streamed JSON answer.
        return Script::new()
            .open_after(MS * 240)
            .part_after(
                MS * 400,
                StreamPart::text(r#"{"category":"billing","urgency":"high"}"#),
            )
            .part(StreamPart::Finish {
                reason: FinishReason::stop(),
                usage: Some(Usage::new(112, 14)),
            });
    }
    if last.contains("weather") && !has_tool_result {
        // Asks for a tool: the call streams a tool call instead of text.
        return Script::new()
            .open_after(MS * 310)
            .part(StreamPart::StreamStart)
            .part(StreamPart::RoleDelta {
                role: Role::Assistant,
            })
            .part_after(
                MS * 190,
                StreamPart::ToolCallStart {
                    id: "call_weather_1".into(),
                    name: "get_weather".into(),
                },
            )
            .part_after(
                MS * 20,
                StreamPart::ToolCallDelta {
                    id: "call_weather_1".into(),
                    arguments: r#"{"city":"#.into(),
                },
            )
            .part_after(
                MS * 20,
                StreamPart::ToolCallDelta {
                    id: "call_weather_1".into(),
                    arguments: r#""Paris"}"#.into(),
                },
            )
            .part_after(
                MS * 10,
                StreamPart::Finish {
                    reason: FinishReason::tool_calls(),
                    usage: Some(Usage::new(86, 17)),
                },
            );
    }
    if has_tool_result {
        return stream_script(280, 210, 20, &words(WEATHER_ANSWER), Usage::new(131, 44));
    }
    if last.contains("haiku") {
        return stream_script(350, 260, 25, &words(HAIKU), Usage::new(24, 19));
    }
    if last.contains("Summarize") {
        let script = stream_script(300, 200, 20, &words(LONG_SUMMARY), Usage::new(410, 52));
        return script;
    }
    if last.contains("refund") {
        return stream_script(290, 230, 20, &words(DRAFT_REPLY), Usage::new(160, 38));
    }
    // The overloaded provider: the stream breaks after a few tokens.
    stream_script(
        300,
        220,
        20,
        &["The ", "release ", "notes "],
        Usage::new(40, 3),
    )
    .error_after(
        MS * 45,
        ModelError::Provider {
            provider: "openai".into(),
            kind: "server_error".into(),
            message: "The server had an error while processing your request.".into(),
        },
    )
}

fn weather_tool() -> ToolDefinition {
    ToolDefinition::new(
        "get_weather",
        "Current weather for a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

/// Streams `req`, returning the text and the tool calls' (id, name, arguments).
async fn stream_text(model: &dyn Model, req: ModelRequest) -> Result<String, ModelError> {
    let mut parts = model.stream(req).await?;
    let mut text = String::new();
    while let Some(part) = parts.next().await {
        if let StreamPart::TextDelta { text: t } = part? {
            text.push_str(&t);
        }
    }
    Ok(text)
}

/// One chat turn: ask, run the tool if the model asks for it, answer.
async fn chat_turn(model: &dyn Model, question: &str) -> Result<String, ModelError> {
    let system = "You are a concise assistant.";
    let first = ModelRequest::new("gpt-4o-mini")
        .system(system)
        .user(question)
        .tool(weather_tool());
    let mut parts = model.stream(first.clone()).await?;
    let mut acc = tracedeck::model::ResponseAccumulator::new(model.info());
    while let Some(part) = parts.next().await {
        acc.push(&part?);
    }
    let answer = acc.finish();
    let Some(call) = answer.tool_calls.first().cloned() else {
        return Ok(answer.text);
    };
    let weather = with_span("tool/get_weather", &call.arguments, async {
        tokio::time::sleep(MS * 120).await;
        // Keys in sorted order: the tool result is this value's JSON text,
        // the same whether or not serde_json keeps insertion order.
        json!({"city": "Paris", "sky": "lightly cloudy", "temp_c": 18})
    })
    .await;
    let follow_up = first
        .message(Message {
            role: Role::Assistant,
            content: vec![tracedeck::model::ContentPart::ToolCall {
                id: call.id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            }],
        })
        .message(Message::tool_result(call.id, weather.to_string()));
    stream_text(model, follow_up).await
}

/// A support ticket as the triage workflow's root input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticket {
    /// Who wrote.
    pub customer: String,
    /// What they wrote.
    pub body: String,
}

/// Triage: classify with a small model while drafting a reply with a larger
/// one, concurrently.
async fn triage(
    classifier: &dyn Model,
    writer: &dyn Model,
    ticket: &Ticket,
) -> Result<serde_json::Value, ModelError> {
    let classify = async {
        let req = ModelRequest::new("gpt-4.1-nano")
            .system("Classify the ticket. Answer JSON with category and urgency.")
            .user(ticket.body.clone());
        classifier.generate(req).await
    };
    let draft = async {
        let req = ModelRequest::new("gpt-4o-mini")
            .system("Draft a short, friendly reply to the customer.")
            .user(format!(
                "{} wrote: {} (refund issued)",
                ticket.customer, ticket.body
            ));
        stream_text(writer, req).await
    };
    let (class, draft) = futures::future::join(classify, draft).await;
    let class: serde_json::Value = serde_json::from_str(&class?.text).unwrap_or_default();
    Ok(json!({"classification": class, "draft": draft?}))
}

/// Summarizes, but the caller stops reading after the first sentence: the
/// stream is dropped early and its span ends `cancelled`.
async fn first_sentence(model: &dyn Model, thread: &str) -> Result<String, ModelError> {
    let req = ModelRequest::new("gpt-4o-mini")
        .system("Summarize the thread.")
        .user(format!("Summarize: {thread}"));
    let mut parts = model.stream(req).await?;
    let mut text = String::new();
    while let Some(part) = parts.next().await {
        if let StreamPart::TextDelta { text: t } = part? {
            text.push_str(&t);
            if text.contains(',') {
                break;
            }
        }
    }
    Ok(text)
}

/// Records the whole example session on the current (paused) runtime and
/// returns its traces, in the order they finished.
pub async fn record() -> Vec<Trace> {
    let traces = Collector::new();
    // Both recorders share one sink object, so a trace they both took part in is delivered once.
    let sink: Arc<dyn Sink> = Arc::new(traces.clone());
    let writer = Recorder::with_shared_sink(
        ScriptedModel::from_fn(script_for).with_info(ModelInfo::new("openai", "gpt-4o-mini")),
        Arc::clone(&sink),
    );
    let classifier = Recorder::with_shared_sink(
        ScriptedModel::from_fn(script_for).with_info(ModelInfo::new("openai", "gpt-4.1-nano")),
        sink,
    );

    for question in [
        "What's the weather in Paris?",
        "Write a haiku about Rust",
        "Draft the release notes",
    ] {
        let _ = with_span("chat-turn", question, chat_turn(&writer, question)).await;
    }
    for ticket in [
        Ticket {
            customer: "Sam".into(),
            body: "I was charged twice for my subscription this month.".into(),
        },
        Ticket {
            customer: "Ada".into(),
            body: "My invoice shows the wrong billing address.".into(),
        },
    ] {
        let _ = with_span(
            "support/triage",
            &ticket,
            triage(&classifier, &writer, &ticket),
        )
        .await;
    }
    let thread = "nightly build runner, flaky billing test, release notes owner";
    let _ = with_span("summarize", thread, first_sentence(&writer, thread)).await;
    traces.traces()
}
