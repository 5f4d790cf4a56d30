//! An OpenAI-compatible Chat Completions server on loopback that streams
//! realistic server-sent events, for demos and tests that need real HTTP but
//! no network and no key.

use std::time::Duration;

use serde_json::{Value, json};

use super::{ReceivedRequest, Reply, SseServer};

/// When the simulator's answers arrive, from the moment a request arrives.
///
/// The defaults look like a hosted model under light load: response headers
/// after 300 ms, framing (the role-only first chunk) at once, the first token
/// after 500 ms, then a token every 20 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub struct SimulatorTiming {
    /// From the request to the response headers.
    pub headers: Duration,
    /// From the request to the first content chunk (at least `headers`).
    pub first_token: Duration,
    /// Between two content chunks.
    pub token_gap: Duration,
}

impl Default for SimulatorTiming {
    fn default() -> Self {
        Self {
            headers: Duration::from_millis(300),
            first_token: Duration::from_millis(500),
            token_gap: Duration::from_millis(20),
        }
    }
}

/// An OpenAI-compatible `POST /v1/chat/completions` server on `127.0.0.1`
/// that answers like a hosted model, deterministically.
///
/// - **Streams** (`"stream": true`) get a realistic event stream: headers
///   after [`SimulatorTiming::headers`], a role-only first chunk at once
///   (framing), then one chunk per token from
///   [`SimulatorTiming::first_token`] on, [`SimulatorTiming::token_gap`]
///   apart, a `finish_reason` chunk, a usage chunk and `data: [DONE]`.
///   Plain requests get one `chat.completion` JSON body after the same time.
/// - **Answers** are about thirty words chosen from the question's text, so
///   the same request always gets the same answer.
/// - **Tool calls**: when the request offers tools and the last message is
///   the user's and mentions a tool's name or the last word of it
///   (`get_weather` → "weather"), the answer is a call of that tool, its
///   arguments streamed in pieces: every `required` property of the tool's
///   schema gets the last word of the question (`"What's the weather in
///   Lisbon?"` → `{"city": "Lisbon"}`). After a tool result, the answer
///   quotes it.
/// - Anything else (another path, a body that is not a chat request) gets an
///   OpenAI-style `400` error.
///
/// It serves until dropped; [`requests`](OpenAiSimulator::requests) shows
/// what it received.
///
/// ```
/// use futures::StreamExt;
/// use tracedeck::providers::OpenAi;
/// use tracedeck::testing::OpenAiSimulator;
/// use tracedeck::{Model, ModelRequest};
/// use tracedeck::model::ResponseAccumulator;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let simulator = OpenAiSimulator::start().await?;
/// let model = OpenAi::new("gpt-4o-mini").base_url(simulator.base_url()).api_key("not-a-real-key");
/// let mut parts = model.stream(ModelRequest::new("gpt-4o-mini").user("Tell me about tokio")).await.unwrap();
/// let mut answer = ResponseAccumulator::new(model.info());
/// while let Some(part) = parts.next().await {
///     answer.push(&part.unwrap());
/// }
/// let answer = answer.finish();
/// assert!(answer.text.split_whitespace().count() >= 25);
/// assert_eq!(simulator.requests().len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub struct OpenAiSimulator {
    server: SseServer,
}

impl OpenAiSimulator {
    /// Starts a simulator with the default [`SimulatorTiming`]. Must be called
    /// inside a tokio runtime running on the real clock.
    pub async fn start() -> std::io::Result<Self> {
        Self::with_timing(SimulatorTiming::default()).await
    }

    /// Starts a simulator answering with `timing`.
    pub async fn with_timing(timing: SimulatorTiming) -> std::io::Result<Self> {
        let server = SseServer::start(move |request| respond(request, timing)).await?;
        Ok(Self { server })
    }

    /// The base URL to give an OpenAI client: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.url())
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.server.requests()
    }
}

/// Filler the answers are cut from: three sentences per topic, picked by the question.
const ANSWERS: [&str; 4] = [
    "Tokio is an asynchronous runtime for Rust. It gives you a scheduler, timers, \
     non-blocking sockets and channels, so thousands of tasks can share a few threads \
     while each one reads like ordinary sequential code.",
    "A good test pins behaviour, not implementation. Record what the model said once, \
     replay it on a virtual clock, and assert on outputs, span trees and timing without \
     ever paying for another call or waiting on the network.",
    "Time to first token is what a user feels. Headers can arrive early while the model \
     is still thinking, so only the first chunk that carries text, reasoning or a tool \
     call should stop the clock.",
    "Streaming keeps an interface responsive. Each chunk is shown as it arrives, the \
     reader starts before the answer is complete, and a slow tail matters far less than \
     a slow start.",
];

fn respond(request: &ReceivedRequest, timing: SimulatorTiming) -> Reply {
    if request.method != "POST" || !request.path.ends_with("/chat/completions") {
        return error_reply(
            404,
            &format!("no route for {} {}", request.method, request.path),
        );
    }
    let Some(body) = request.body_json() else {
        return error_reply(400, "the body is not JSON");
    };
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return error_reply(400, "`messages` is missing");
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("gpt-4o-mini")
        .to_owned();
    let answer = answer_for(messages, body.get("tools"));
    let prompt_tokens = messages
        .iter()
        .map(|m| m.to_string().split_whitespace().count())
        .sum::<usize>() as u64;
    let streamed = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if streamed {
        stream_reply(&model, &answer, prompt_tokens, timing)
    } else {
        json_reply(&model, &answer, prompt_tokens, timing)
    }
}

/// What the simulated model answers.
enum Answer {
    Text(Vec<String>),
    ToolCall {
        id: String,
        name: String,
        arguments: Vec<String>,
    },
}

impl Answer {
    fn completion_tokens(&self) -> u64 {
        match self {
            Answer::Text(tokens) => tokens.len() as u64,
            Answer::ToolCall { arguments, .. } => arguments.len() as u64 + 4,
        }
    }
}

fn answer_for(messages: &[Value], tools: Option<&Value>) -> Answer {
    let last = messages.last();
    let last_role = last.and_then(|m| m.get("role")).and_then(Value::as_str);
    let question = last.map(message_text).unwrap_or_default();
    if last_role == Some("tool") {
        let result = question.trim();
        let text = format!(
            "Here is what the tool reported: {result}. {}",
            first_sentence(ANSWERS[(fnv(result) % ANSWERS.len() as u64) as usize])
        );
        return Answer::Text(tokens_of(&text));
    }
    if last_role == Some("user") {
        if let Some(tool) = tools
            .and_then(Value::as_array)
            .and_then(|tools| tools.iter().find(|tool| mentions_tool(&question, tool)))
        {
            return tool_call(tool, &question);
        }
    }
    let text = ANSWERS[(fnv(&question) % ANSWERS.len() as u64) as usize];
    Answer::Text(tokens_of(text))
}

/// Whether `question` names `tool` (an OpenAI tool definition) or the last word of its name.
fn mentions_tool(question: &str, tool: &Value) -> bool {
    let Some(name) = tool.pointer("/function/name").and_then(Value::as_str) else {
        return false;
    };
    let question = question.to_lowercase();
    let last_word = name.rsplit('_').next().unwrap_or(name).to_lowercase();
    question.contains(&name.to_lowercase())
        || (!last_word.is_empty() && question.contains(&last_word))
}

fn tool_call(tool: &Value, question: &str) -> Answer {
    let name = tool
        .pointer("/function/name")
        .and_then(Value::as_str)
        .unwrap_or("tool")
        .to_owned();
    let value = question
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_owned();
    let mut arguments = serde_json::Map::new();
    if let Some(required) = tool
        .pointer("/function/parameters/required")
        .and_then(Value::as_array)
    {
        for property in required.iter().filter_map(Value::as_str) {
            arguments.insert(property.to_owned(), json!(value));
        }
    }
    let text = Value::Object(arguments).to_string();
    // Streamed in pieces of about eight characters, as providers do.
    let chars: Vec<char> = text.chars().collect();
    let arguments = chars.chunks(8).map(|c| c.iter().collect()).collect();
    Answer::ToolCall {
        id: format!("call_{:012x}", fnv(question) & 0xffff_ffff_ffff),
        name,
        arguments,
    }
}

/// The text of an OpenAI message: its `content` string, or its text parts joined.
fn message_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn first_sentence(text: &str) -> &str {
    text.split_inclusive(". ").next().unwrap_or(text).trim_end()
}

/// One token per word, each carrying its leading space as a real tokenizer does.
fn tokens_of(text: &str) -> Vec<String> {
    text.split_whitespace()
        .enumerate()
        .map(|(i, word)| {
            if i == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            }
        })
        .collect()
}

/// FNV-1a: a stable hash, so answers do not change between runs or platforms.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn chunk_event(model: &str, delta: Value, finish_reason: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-simulated",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    });
    format!("data: {chunk}\n\n")
}

fn stream_reply(
    model: &str,
    answer: &Answer,
    prompt_tokens: u64,
    timing: SimulatorTiming,
) -> Reply {
    let mut reply = Reply::sse()
        .headers_after(timing.headers)
        .chunk(chunk_event(
            model,
            json!({"role": "assistant", "content": ""}),
            None,
        ));
    let first_gap = timing.first_token.saturating_sub(timing.headers);
    let gap = |i: usize| if i == 0 { first_gap } else { timing.token_gap };
    let finish = match answer {
        Answer::Text(tokens) => {
            for (i, token) in tokens.iter().enumerate() {
                reply =
                    reply.chunk_after(gap(i), chunk_event(model, json!({"content": token}), None));
            }
            "stop"
        }
        Answer::ToolCall {
            id,
            name,
            arguments,
        } => {
            reply = reply.chunk_after(
                gap(0),
                chunk_event(
                    model,
                    json!({"tool_calls": [{"index": 0, "id": id, "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                    None,
                ),
            );
            for (i, piece) in arguments.iter().enumerate() {
                reply = reply.chunk_after(
                    gap(i + 1),
                    chunk_event(
                        model,
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                        None,
                    ),
                );
            }
            "tool_calls"
        }
    };
    let completion_tokens = answer.completion_tokens();
    let usage = json!({
        "id": "chatcmpl-simulated",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    });
    reply
        .chunk_after(
            timing.token_gap,
            chunk_event(model, json!({}), Some(finish)),
        )
        .chunk(format!("data: {usage}\n\n"))
        .chunk("data: [DONE]\n\n")
}

fn json_reply(model: &str, answer: &Answer, prompt_tokens: u64, timing: SimulatorTiming) -> Reply {
    let (message, finish) = match answer {
        Answer::Text(tokens) => (
            json!({"role": "assistant", "content": tokens.concat()}),
            "stop",
        ),
        Answer::ToolCall {
            id,
            name,
            arguments,
        } => (
            json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": id, "type": "function",
                "function": {"name": name, "arguments": arguments.concat()},
            }]}),
            "tool_calls",
        ),
    };
    let completion_tokens = answer.completion_tokens();
    let body = json!({
        "id": "chatcmpl-simulated",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    });
    // A whole answer takes as long as its stream would have.
    let tokens = completion_tokens.saturating_sub(1) as u32;
    Reply::json(200, &body).headers_after(timing.first_token + timing.token_gap * tokens)
}

fn error_reply(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error"}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_naming_a_tool_calls_it_with_the_last_word() {
        let tool = json!({"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "required": ["city"]}}});
        let messages = [json!({"role": "user", "content": "What's the weather in Lisbon?"})];
        let Answer::ToolCall {
            name, arguments, ..
        } = answer_for(&messages, Some(&json!([tool])))
        else {
            panic!("expected a tool call");
        };
        assert_eq!(name, "get_weather");
        assert_eq!(arguments.concat(), r#"{"city":"Lisbon"}"#);
        assert!(arguments.len() > 1, "arguments are streamed in pieces");
    }

    #[test]
    fn other_questions_get_about_thirty_tokens_deterministically() {
        let messages = [json!({"role": "user", "content": "Why test with a virtual clock?"})];
        let Answer::Text(first) = answer_for(&messages, None) else {
            panic!("expected text");
        };
        let Answer::Text(again) = answer_for(&messages, None) else {
            panic!("expected text");
        };
        assert_eq!(first, again);
        assert!((25..=40).contains(&first.len()), "{} tokens", first.len());
    }
}
