//! Keys go on the wire and nowhere else: after recording through adapters
//! built with the key `sk-test-SECRET-123` — streams, whole answers, an
//! error status and an error event that both echo the key back — no
//! recorded byte contains `SECRET`, and neither does any adapter's `Debug`.

use crate::common;

use futures::StreamExt;
use serde_json::json;
use tracedeck::providers::{Anthropic, OpenAi, OpenAiResponses};
use tracedeck::testing::{Reply, SseServer};
use tracedeck::{Collector, Model, ModelRequest, Recorder, with_span};

const KEY: &str = "sk-test-SECRET-123";

fn adapters(base: &str) -> Vec<(Box<dyn Model>, &'static str, &'static str)> {
    vec![
        (
            Box::new(OpenAi::new("m").api_key(KEY).base_url(base)),
            "authorization",
            "openai",
        ),
        (
            Box::new(OpenAiResponses::new("m").api_key(KEY).base_url(base)),
            "authorization",
            "responses",
        ),
        (
            Box::new(Anthropic::new("m").api_key(KEY).base_url(base)),
            "x-api-key",
            "anthropic",
        ),
    ]
}

/// A server that answers each adapter's stream and whole requests in its own
/// protocol, so every call succeeds.
async fn happy_server() -> SseServer {
    SseServer::start(|req| {
        let streaming = req.body_json().is_some_and(|b| b["stream"] == true);
        match (req.path.as_str(), streaming) {
            ("/chat/completions", true) => Reply::sse_events(concat!(
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\n",
                "data: [DONE]\n\n"
            )),
            ("/chat/completions", false) => Reply::json(
                200,
                &json!({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}),
            ),
            ("/responses", true) => Reply::sse_events(concat!(
                "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"ok\"}\n\n",
                "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\"}}\n\n"
            )),
            ("/responses", false) => Reply::json(
                200,
                &json!({"status": "completed", "output": [{"type": "message", "content": [{"type": "output_text", "text": "ok"}]}]}),
            ),
            ("/v1/messages", true) => Reply::sse_events(concat!(
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n",
                "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
            )),
            ("/v1/messages", false) => Reply::json(
                200,
                &json!({"content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"}),
            ),
            _ => Reply::status(404),
        }
    })
    .await
    .unwrap()
}

async fn record_calls(model: &Recorder<Box<dyn Model>>) -> Vec<String> {
    let mut outcomes = Vec::new();
    with_span("secrets", "check", async {
        match model.stream(ModelRequest::new("m").user("hi")).await {
            Ok(mut stream) => {
                while let Some(item) = stream.next().await {
                    if let Err(err) = item {
                        outcomes.push(err.to_string());
                    }
                }
            }
            Err(err) => outcomes.push(err.to_string()),
        }
        if let Err(err) = model.generate(ModelRequest::new("m").user("hi")).await {
            outcomes.push(err.to_string());
        }
    })
    .await;
    outcomes
}

fn recorded_bytes(traces: &Collector) -> String {
    traces
        .traces()
        .iter()
        .map(|t| serde_json::to_string_pretty(t).unwrap())
        .collect()
}

#[tokio::test]
async fn successful_calls_put_the_key_on_the_wire_and_nowhere_in_the_recording() {
    let server = happy_server().await;
    for (model, auth_header, name) in adapters(&server.url()) {
        let traces = Collector::new();
        let model = Recorder::new(model, traces.clone());
        let errors = record_calls(&model).await;
        assert!(errors.is_empty(), "{name}: {errors:?}");
        let recorded = recorded_bytes(&traces);
        assert!(
            recorded.contains("\"ok\""),
            "{name}: the calls were recorded"
        );
        assert!(!recorded.contains("SECRET"), "{name}: {recorded}");
        // ... while both requests carried it, in the header and only there.
        let requests = server.requests();
        for req in &requests[requests.len() - 2..] {
            let auth = req.header(auth_header).unwrap_or_default();
            assert!(auth.ends_with(KEY), "{name}: {auth_header}: {auth}");
            assert!(
                !req.body_text().contains("SECRET"),
                "{name}: the key is never in a body"
            );
        }
    }
    assert_eq!(server.requests().len(), 6);
}

#[tokio::test]
async fn errors_that_echo_the_key_are_recorded_with_it_redacted() {
    // A 401 whose body quotes the key, then an error event that does too.
    let server = SseServer::start(|req| {
        let streaming = req.body_json().is_some_and(|b| b["stream"] == true);
        if streaming {
            let event = format!(
                "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"invalid_request_error\",\"message\":\"key {KEY} revoked\"}}}}\n\n"
            );
            let chat = format!("data: {{\"error\":{{\"message\":\"key {KEY} revoked\",\"type\":\"invalid_request_error\"}}}}\n\n");
            if req.path == "/chat/completions" {
                Reply::sse_events(chat)
            } else {
                Reply::sse_events(event)
            }
        } else {
            Reply::json(
                401,
                &json!({"error": {"message": format!("Incorrect API key provided: {KEY}"), "type": "invalid_request_error"}}),
            )
        }
    })
    .await
    .unwrap();
    for (model, _, name) in adapters(&server.url()) {
        let traces = Collector::new();
        let model = Recorder::new(model, traces.clone());
        let errors = record_calls(&model).await;
        assert_eq!(errors.len(), 2, "{name}: the event error and the 401");
        for err in &errors {
            assert!(err.contains("<redacted>"), "{name}: {err}");
            assert!(!err.contains("SECRET"), "{name}: {err}");
        }
        let recorded = recorded_bytes(&traces);
        assert!(
            recorded.contains("Incorrect API key provided: <redacted>"),
            "{name}: {recorded}"
        );
        assert!(!recorded.contains("SECRET"), "{name}: {recorded}");
    }
}

#[test]
fn no_adapter_debug_output_shows_the_key_or_header_values() {
    let shown = [
        format!("{:?}", OpenAi::new("m").api_key(KEY).header("api-key", KEY)),
        format!("{:?}", OpenAiResponses::new("m").api_key(KEY)),
        format!(
            "{:?}",
            Anthropic::new("m")
                .api_key(KEY)
                .header("x-gateway-token", KEY)
        ),
        format!("{:?}", tracedeck::providers::ApiKey::new(KEY)),
    ];
    for debug in shown {
        assert!(!debug.contains("SECRET"), "{debug}");
        assert!(debug.contains("redacted"), "{debug}");
    }
}

/// A server that echoes the key in everything it sends back: the response's
/// `id` and `model`, the text, a tool call's id, name and arguments.
async fn echoing_server() -> SseServer {
    SseServer::start(|req| {
        let streaming = req.body_json().is_some_and(|b| b["stream"] == true);
        let id = format!("resp-{KEY}");
        let model = format!("gpt-{KEY}");
        let text = format!("your key is {KEY}");
        let chunk = |v: serde_json::Value| format!("data: {v}\n\n");
        let event = |name: &str, v: serde_json::Value| format!("event: {name}\ndata: {v}\n\n");
        match (req.path.as_str(), streaming) {
            ("/chat/completions", true) => Reply::sse_events(
                [
                    chunk(json!({"id": id, "model": model, "choices": [{"index": 0,
                        "delta": {"role": "assistant", "content": text}}]})),
                    chunk(json!({"id": id, "model": model, "choices": [{"index": 0,
                        "delta": {"tool_calls": [{"index": 0, "id": format!("call-{KEY}"),
                            "function": {"name": format!("f-{KEY}"), "arguments": format!("{{\"k\":\"{KEY}\"}}")}}]},
                        "finish_reason": "stop"}]})),
                    "data: [DONE]\n\n".to_owned(),
                ]
                .concat(),
            ),
            ("/chat/completions", false) => Reply::json(
                200,
                &json!({"id": id, "model": model, "choices": [{"message": {"content": text,
                    "tool_calls": [{"id": format!("call-{KEY}"), "type": "function",
                        "function": {"name": format!("f-{KEY}"), "arguments": format!("{{\"k\":\"{KEY}\"}}")}}]},
                    "finish_reason": "stop"}]}),
            ),
            ("/responses", true) => Reply::sse_events(
                [
                    event("response.created", json!({"type": "response.created",
                        "response": {"id": id, "model": model, "status": "in_progress"}})),
                    event("response.output_text.delta", json!({"type": "response.output_text.delta", "delta": text})),
                    event("response.completed", json!({"type": "response.completed",
                        "response": {"id": id, "model": model, "status": "completed"}})),
                ]
                .concat(),
            ),
            ("/responses", false) => Reply::json(
                200,
                &json!({"id": id, "model": model, "status": "completed", "output": [{"type": "message",
                    "content": [{"type": "output_text", "text": text}]}]}),
            ),
            ("/v1/messages", true) => Reply::sse_events(
                [
                    event("message_start", json!({"type": "message_start", "message": {"id": id, "model": model,
                        "role": "assistant", "content": [], "usage": {"input_tokens": 1, "output_tokens": 0}}})),
                    event("content_block_start", json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}})),
                    event("content_block_delta", json!({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": text}})),
                    event("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
                    event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                        "usage": {"output_tokens": 3}})),
                    event("message_stop", json!({"type": "message_stop"})),
                ]
                .concat(),
            ),
            ("/v1/messages", false) => Reply::json(
                200,
                &json!({"id": id, "model": model, "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn"}),
            ),
            _ => Reply::status(404),
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_key_echoed_in_ids_models_and_text_reaches_neither_the_caller_nor_the_cassette() {
    let server = echoing_server().await;
    for (model, _, name) in adapters(&server.url()) {
        let dir = tempfile::tempdir().unwrap();
        let store = tracedeck::Store::open(dir.path()).unwrap();
        let model = Recorder::new(model, store.sink());
        let mut seen = Vec::new();
        with_span("secrets", "check", async {
            let mut stream = model
                .stream(ModelRequest::new("m").user("hi"))
                .await
                .unwrap();
            while let Some(part) = stream.next().await {
                seen.push(serde_json::to_string(&part.unwrap()).unwrap());
            }
            let whole = model
                .generate(ModelRequest::new("m").user("hi"))
                .await
                .unwrap();
            seen.push(serde_json::to_string(&whole).unwrap());
        })
        .await;
        assert!(model.flush().await.is_clean(), "{name}");
        let seen = seen.concat();
        assert!(seen.contains("your key is <redacted>"), "{name}: {seen}");
        assert!(seen.contains("resp-<redacted>"), "{name}: {seen}");
        assert!(!seen.contains("SECRET"), "{name}: the caller sees {seen}");

        let files = common::files_under(dir.path());
        assert_eq!(files.len(), 1, "{name}: one cassette");
        let bytes = std::fs::read_to_string(dir.path().join(&files[0])).unwrap();
        assert!(bytes.contains("gpt-<redacted>"), "{name}: {bytes}");
        assert!(
            !bytes.contains("SECRET"),
            "{name}: the cassette holds {bytes}"
        );
    }
}
