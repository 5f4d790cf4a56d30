//! What each adapter puts on the wire (path, headers including auth, body)
//! for plain, tool-using and multi-turn requests, and how it maps error
//! statuses and broken streams, against wiremock and the loopback server.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tracedeck::model::{ContentPart, FinishKind, Message, Role, ToolChoice, ToolDefinition, Usage};
use tracedeck::providers::{Anthropic, OpenAi, OpenAiResponses};
use tracedeck::testing::{Reply, SseServer};
use tracedeck::{Model, ModelError, ModelRequest, ModelResponse, StreamPart};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-test-wire-0123456789";

async fn server_answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

fn sse(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "text/event-stream")
}

fn json_reply(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn only_request(server: &MockServer) -> wiremock::Request {
    let mut requests = server.received_requests().await.expect("recording is on");
    assert_eq!(requests.len(), 1, "exactly one request");
    requests.remove(0)
}

fn header<'a>(req: &'a wiremock::Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

async fn drain(model: &dyn Model, req: ModelRequest) -> Result<Vec<StreamPart>, ModelError> {
    let mut stream = model.stream(req).await?;
    let mut parts = Vec::new();
    while let Some(part) = stream.next().await {
        parts.push(part?);
    }
    Ok(parts)
}

fn weather_tool() -> ToolDefinition {
    ToolDefinition::new(
        "get_weather",
        "Current weather for a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

/// user → assistant tool call → tool result → assistant text → user.
fn multi_turn_request() -> ModelRequest {
    ModelRequest::new("the-model")
        .system("You are terse.")
        .user("Weather in Paris?")
        .message(Message {
            role: Role::Assistant,
            content: vec![ContentPart::ToolCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"}),
            }],
        })
        .message(Message::tool_result("call_1", "18C, clear"))
        .message(Message::assistant("18C and clear."))
        .user("And in Rome?")
        .tool(weather_tool())
}

// ---------------------------------------------------------------- OpenAI Chat

const CHAT_TOOL_SSE: &str = concat!(
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"call_9\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}}]}}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":8}}\n\n",
    "data: [DONE]\n\n",
);

#[tokio::test]
async fn openai_plain_generate_sends_bearer_auth_and_the_mapped_body() {
    let server = server_answering(json_reply(json!({
        "id": "chatcmpl-1", "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}}
    })))
    .await;
    let model = OpenAi::new("gpt-4o-mini")
        .api_key(KEY)
        .base_url(format!("{}/v1", server.uri()))
        .header("OpenAI-Project", "proj_1");
    let response = model
        .generate(
            ModelRequest::new("gpt-4o-mini")
                .system("Answer in one word.")
                .user("Capital of France?")
                .temperature(0.0)
                .max_tokens(16),
        )
        .await
        .unwrap();

    let req = only_request(&server).await;
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(req.url.path(), "/v1/chat/completions");
    assert_eq!(
        header(&req, "authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(header(&req, "content-type"), Some("application/json"));
    assert_eq!(header(&req, "openai-project"), Some("proj_1"));
    assert_eq!(
        req.body_json::<Value>().unwrap(),
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Answer in one word."},
                {"role": "user", "content": "Capital of France?"}
            ],
            "temperature": 0.0,
            "max_completion_tokens": 16
        })
    );
    assert_eq!(response.text, "Paris.");
    assert_eq!(response.model.model, "gpt-4o-mini-2024-07-18");
    assert_eq!(response.finish_reason.unwrap().kind, FinishKind::Stop);
    assert_eq!(
        response.usage,
        Some(Usage {
            cached_input_tokens: Some(4),
            ..Usage::new(12, 2)
        })
    );
}

#[tokio::test]
async fn openai_tool_stream_sends_tools_choice_and_stream_options() {
    let server = server_answering(sse(CHAT_TOOL_SSE)).await;
    let model = OpenAi::new("gpt-4o-mini")
        .api_key(KEY)
        .base_url(format!("{}/v1", server.uri()));
    let mut req = ModelRequest::new("gpt-4o-mini")
        .user("Weather in Rome?")
        .tool(weather_tool());
    req.settings.tool_choice = Some(ToolChoice::Required);
    let parts = drain(&model, req).await.unwrap();

    let body = only_request(&server).await.body_json::<Value>().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["tool_choice"], "required");
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }}])
    );
    let response = fold(&model, &parts);
    assert_eq!(response.tool_calls[0].id, "call_9");
    assert_eq!(response.tool_calls[0].arguments, json!({"city": "Rome"}));
    assert_eq!(response.usage, Some(Usage::new(30, 8)));
}

#[tokio::test]
async fn openai_multi_turn_maps_tool_calls_and_results_to_chat_messages() {
    let server = server_answering(sse(CHAT_TOOL_SSE)).await;
    let model = OpenAi::new("unused-default").base_url(format!("{}/v1", server.uri()));
    drain(&model, multi_turn_request()).await.unwrap();
    let req = only_request(&server).await;
    assert_eq!(
        header(&req, "authorization"),
        None,
        "no key, no auth header"
    );
    let body = req.body_json::<Value>().unwrap();
    assert_eq!(body["model"], "the-model");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C, clear"},
            {"role": "assistant", "content": "18C and clear."},
            {"role": "user", "content": "And in Rome?"}
        ])
    );
}

// ------------------------------------------------------------ OpenAI Responses

const RESPONSES_TOOL_SSE: &str = concat!(
    "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-5-mini\",\"status\":\"in_progress\"}}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"fc_1\",\"type\":\"function_call\",\"call_id\":\"call_9\",\"name\":\"get_weather\",\"arguments\":\"\"}}\n\n",
    "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"item_id\":\"fc_1\",\"output_index\":0,\"delta\":\"{\\\"city\\\":\\\"Rome\\\"}\"}\n\n",
    "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"id\":\"fc_1\",\"type\":\"function_call\",\"call_id\":\"call_9\",\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}}\n\n",
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":40,\"output_tokens\":9,\"output_tokens_details\":{\"reasoning_tokens\":0}}}}\n\n",
);

#[tokio::test]
async fn responses_plain_generate_sends_instructions_and_input_items() {
    let server = server_answering(json_reply(json!({
        "id": "resp_1", "model": "gpt-5-mini", "status": "completed",
        "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Paris."}]}],
        "usage": {"input_tokens": 12, "output_tokens": 2}
    })))
    .await;
    let model = OpenAiResponses::new("gpt-5-mini")
        .api_key(KEY)
        .base_url(format!("{}/v1", server.uri()));
    let response = model
        .generate(
            ModelRequest::new("gpt-5-mini")
                .system("Answer in one word.")
                .user("Capital of France?")
                .max_tokens(16)
                .extra("store", json!(false)),
        )
        .await
        .unwrap();

    let req = only_request(&server).await;
    assert_eq!(req.url.path(), "/v1/responses");
    assert_eq!(
        header(&req, "authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        req.body_json::<Value>().unwrap(),
        json!({
            "model": "gpt-5-mini",
            "instructions": "Answer in one word.",
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Capital of France?"}]}],
            "max_output_tokens": 16,
            "store": false
        })
    );
    assert_eq!(response.text, "Paris.");
    let finish = response.finish_reason.unwrap();
    assert_eq!(
        (finish.kind, finish.raw.as_str()),
        (FinishKind::Stop, "completed")
    );
}

#[tokio::test]
async fn responses_tool_stream_sends_function_tools_and_reads_the_call() {
    let server = server_answering(sse(RESPONSES_TOOL_SSE)).await;
    let model = OpenAiResponses::new("gpt-5-mini")
        .api_key(KEY)
        .base_url(format!("{}/v1", server.uri()));
    let mut req = ModelRequest::new("gpt-5-mini")
        .user("Weather in Rome?")
        .tool(weather_tool());
    req.settings.tool_choice = Some(ToolChoice::Tool {
        name: "get_weather".into(),
    });
    let parts = drain(&model, req).await.unwrap();

    let body = only_request(&server).await.body_json::<Value>().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "name": "get_weather"})
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "name": "get_weather", "description": "Current weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                "strict": false}])
    );
    let response = fold(&model, &parts);
    assert_eq!(response.tool_calls[0].id, "call_9");
    assert_eq!(response.tool_calls[0].arguments, json!({"city": "Rome"}));
    let finish = response.finish_reason.unwrap();
    assert_eq!(
        (finish.kind, finish.raw.as_str()),
        (FinishKind::ToolCalls, "completed")
    );
}

#[tokio::test]
async fn responses_multi_turn_maps_tool_calls_and_results_to_items() {
    let server = server_answering(sse(RESPONSES_TOOL_SSE)).await;
    let model = OpenAiResponses::new("x")
        .api_key(KEY)
        .base_url(format!("{}/v1", server.uri()));
    drain(&model, multi_turn_request()).await.unwrap();
    let body = only_request(&server).await.body_json::<Value>().unwrap();
    assert_eq!(body["instructions"], "You are terse.");
    assert_eq!(
        body["input"],
        json!([
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C, clear"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "18C and clear."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "And in Rome?"}]}
        ])
    );
}

// ------------------------------------------------------------------ Anthropic

const ANTHROPIC_TOOL_SSE: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-haiku-4-5\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":50,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_9\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\\\"Rome\\\"}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":12}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

#[tokio::test]
async fn anthropic_plain_generate_sends_x_api_key_and_the_version_header() {
    let server = server_answering(json_reply(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
        "content": [{"type": "text", "text": "Paris."}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 12, "output_tokens": 3, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 0}
    })))
    .await;
    let model = Anthropic::new("claude-haiku-4-5")
        .api_key(KEY)
        .base_url(server.uri())
        .header("anthropic-beta", "fine-grained-tool-streaming-2025-05-14");
    let response = model
        .generate(
            ModelRequest::new("claude-haiku-4-5")
                .system("Answer in one word.")
                .user("Capital of France?")
                .temperature(0.2),
        )
        .await
        .unwrap();

    let req = only_request(&server).await;
    assert_eq!(req.url.path(), "/v1/messages");
    assert_eq!(header(&req, "x-api-key"), Some(KEY));
    assert_eq!(header(&req, "authorization"), None);
    assert_eq!(header(&req, "anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        header(&req, "anthropic-beta"),
        Some("fine-grained-tool-streaming-2025-05-14")
    );
    assert_eq!(
        req.body_json::<Value>().unwrap(),
        json!({
            "model": "claude-haiku-4-5",
            "max_tokens": 4096,
            "system": "Answer in one word.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Capital of France?"}]}],
            "temperature": 0.2
        })
    );
    assert_eq!(response.text, "Paris.");
    let finish = response.finish_reason.unwrap();
    assert_eq!(
        (finish.kind, finish.raw.as_str()),
        (FinishKind::Stop, "end_turn")
    );
    assert_eq!(
        response.usage,
        Some(Usage {
            input_tokens: 17,
            output_tokens: 3,
            cached_input_tokens: Some(0),
            cache_creation_input_tokens: Some(5),
            reasoning_tokens: None,
        })
    );
}

#[tokio::test]
async fn anthropic_tool_stream_sends_input_schemas_and_reads_the_tool_use() {
    let server = server_answering(sse(ANTHROPIC_TOOL_SSE)).await;
    let model = Anthropic::new("claude-haiku-4-5")
        .api_key(KEY)
        .base_url(server.uri())
        .version("2024-01-01")
        .default_max_tokens(256);
    let mut req = ModelRequest::new("claude-haiku-4-5")
        .user("Weather in Rome?")
        .tool(weather_tool());
    req.settings.tool_choice = Some(ToolChoice::Auto);
    let parts = drain(&model, req).await.unwrap();

    let req = only_request(&server).await;
    assert_eq!(header(&req, "anthropic-version"), Some("2024-01-01"));
    let body = req.body_json::<Value>().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(body["tool_choice"], json!({"type": "auto"}));
    assert_eq!(
        body["tools"],
        json!([{"name": "get_weather", "description": "Current weather for a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
    );
    let response = fold(&model, &parts);
    assert_eq!(response.tool_calls[0].id, "toolu_9");
    assert_eq!(response.tool_calls[0].arguments, json!({"city": "Rome"}));
    assert_eq!(response.usage, Some(Usage::new(50, 12)));
    assert_eq!(response.finish_reason.unwrap().kind, FinishKind::ToolCalls);
}

#[tokio::test]
async fn anthropic_multi_turn_maps_tool_results_to_user_blocks() {
    let server = server_answering(sse(ANTHROPIC_TOOL_SSE)).await;
    let model = Anthropic::new("x").api_key(KEY).base_url(server.uri());
    drain(&model, multi_turn_request()).await.unwrap();
    let body = only_request(&server).await.body_json::<Value>().unwrap();
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "18C, clear"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "18C and clear."}]},
            {"role": "user", "content": [{"type": "text", "text": "And in Rome?"}]}
        ])
    );
}

// --------------------------------------------------------------------- errors

fn adapters(base: &str) -> Vec<Box<dyn Model>> {
    vec![
        Box::new(OpenAi::new("m").api_key(KEY).base_url(format!("{base}/v1"))),
        Box::new(
            OpenAiResponses::new("m")
                .api_key(KEY)
                .base_url(format!("{base}/v1")),
        ),
        Box::new(Anthropic::new("m").api_key(KEY).base_url(base)),
    ]
}

async fn http_error(template: ResponseTemplate) -> Vec<(ModelError, ModelError)> {
    let server = server_answering(template).await;
    let mut errors = Vec::new();
    for model in adapters(&server.uri()) {
        let on_stream = match model.stream(ModelRequest::new("m").user("hi")).await {
            Ok(_) => panic!("{}: an error status opened a stream", model.info()),
            Err(err) => err,
        };
        let on_generate = model
            .generate(ModelRequest::new("m").user("hi"))
            .await
            .unwrap_err();
        errors.push((on_stream, on_generate));
    }
    errors
}

fn assert_http(err: &ModelError, status: u16, message: &str, retry_after_ms: Option<u64>) {
    match err {
        ModelError::Http {
            status: s,
            message: m,
            retry_after_ms: r,
            ..
        } => {
            assert_eq!(
                (*s, m.as_str(), *r),
                (status, message, retry_after_ms),
                "{err}"
            );
        }
        other => panic!("expected HTTP {status}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_400_is_an_http_error_with_the_providers_message_not_retryable() {
    let body = json!({"error": {"message": "Unsupported parameter: 'foo'", "type": "invalid_request_error"}});
    for (stream, generate) in http_error(ResponseTemplate::new(400).set_body_json(body)).await {
        for err in [&stream, &generate] {
            assert_http(err, 400, "Unsupported parameter: 'foo'", None);
            assert!(!err.is_retryable());
        }
    }
}

#[tokio::test]
async fn a_401_carries_anthropics_error_shape_message() {
    let body = json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}});
    for (stream, generate) in http_error(ResponseTemplate::new(401).set_body_json(body)).await {
        assert_http(&stream, 401, "invalid x-api-key", None);
        assert_http(&generate, 401, "invalid x-api-key", None);
        assert!(!stream.is_retryable());
    }
}

#[tokio::test]
async fn a_429_is_retryable_with_retry_after_parsed() {
    let body = json!({"error": {"message": "Rate limit reached", "type": "requests"}});
    let template = ResponseTemplate::new(429)
        .set_body_json(body)
        .insert_header("retry-after", "3");
    for (stream, generate) in http_error(template).await {
        for err in [&stream, &generate] {
            assert_http(err, 429, "Rate limit reached", Some(3000));
            assert!(err.is_retryable());
            assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        }
    }
}

#[tokio::test]
async fn a_500_without_a_json_body_is_retryable_with_its_text() {
    let template = ResponseTemplate::new(500).set_body_string("upstream connect error");
    for (stream, generate) in http_error(template).await {
        assert_http(&stream, 500, "upstream connect error", None);
        assert_http(&generate, 500, "upstream connect error", None);
        assert!(stream.is_retryable());
    }
}

#[tokio::test]
async fn a_529_overloaded_with_retry_after_ms_is_retryable() {
    let body =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    let template = ResponseTemplate::new(529)
        .set_body_json(body)
        .insert_header("retry-after-ms", "1500");
    for (stream, _) in http_error(template).await {
        assert_http(&stream, 529, "Overloaded", Some(1500));
        assert!(stream.is_retryable());
    }
}

#[tokio::test]
async fn an_empty_error_body_names_the_status() {
    for (stream, _) in http_error(ResponseTemplate::new(503)).await {
        assert_http(&stream, 503, "HTTP 503 Service Unavailable", None);
    }
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_it_with_the_providers_error() {
    let cases = [
        (
            "openai",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\"}}\n\n",
            "server_error",
        ),
        (
            "responses",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hel\"}\n\nevent: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"The server had an error\"}\n\n",
            "server_error",
        ),
        (
            "anthropic",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
            "overloaded_error",
        ),
    ];
    for (which, body, kind) in cases {
        let server = SseServer::serve(Reply::sse_events(body)).await.unwrap();
        let model: Box<dyn Model> = match which {
            "openai" => Box::new(OpenAi::new("m").base_url(server.url())),
            "responses" => Box::new(OpenAiResponses::new("m").base_url(server.url())),
            _ => Box::new(Anthropic::new("m").base_url(server.url())),
        };
        let mut stream = model
            .stream(ModelRequest::new("m").user("hi"))
            .await
            .unwrap();
        let mut items = Vec::new();
        while let Some(item) = stream.next().await {
            items.push(item);
        }
        assert_eq!(
            items.len(),
            2,
            "{which}: the text part, then the error, then the end"
        );
        assert_eq!(items[0], Ok(StreamPart::text("Hel")), "{which}");
        assert!(
            matches!(&items[1], Err(ModelError::Provider { kind: k, .. }) if k == kind),
            "{which}: {:?}",
            items[1]
        );
    }
}

#[tokio::test]
async fn a_body_that_ends_before_the_protocols_end_is_truncated() {
    let cases: [(&str, &str, &str); 3] = [
        (
            "openai",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "[DONE]",
        ),
        (
            "responses",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hel\"}\n\n",
            "response.completed",
        ),
        (
            "anthropic",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
            "message_stop",
        ),
    ];
    for (which, body, marker) in cases {
        let server = SseServer::serve(Reply::sse_events(body)).await.unwrap();
        let model: Box<dyn Model> = match which {
            "openai" => Box::new(OpenAi::new("m").base_url(server.url())),
            "responses" => Box::new(OpenAiResponses::new("m").base_url(server.url())),
            _ => Box::new(Anthropic::new("m").base_url(server.url())),
        };
        let err = drain(model.as_ref(), ModelRequest::new("m").user("hi"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ModelError::Truncated { message, .. } if message.contains(marker)),
            "{which}: {err:?}"
        );
        assert!(err.is_retryable());
    }
}

#[tokio::test]
async fn a_connection_broken_mid_body_is_a_transport_error() {
    let reply = Reply::sse()
        .chunk("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n")
        .then_break_connection();
    let server = SseServer::serve(reply).await.unwrap();
    let model = OpenAi::new("m").base_url(server.url());
    let err = drain(&model, ModelRequest::new("m").user("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::Transport { .. }), "{err:?}");

    // Broken after the finish reason and usage: both still reach the caller,
    // as the Finish ahead of the transport error.
    let reply = Reply::sse()
        .chunk(concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":\"length\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n",
        ))
        // Time for the client to read the events before the break.
        .chunk_after(Duration::from_millis(100), ": ping\n\n")
        .then_break_connection();
    let server = SseServer::serve(reply).await.unwrap();
    let model = OpenAi::new("m").base_url(server.url());
    let mut stream = model
        .stream(ModelRequest::new("m").user("hi"))
        .await
        .unwrap();
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item);
    }
    let (last, parts) = items.split_last().unwrap();
    assert!(
        matches!(last, Err(ModelError::Transport { .. })),
        "{last:?}"
    );
    assert_eq!(
        parts.last(),
        Some(&Ok(StreamPart::Finish {
            reason: tracedeck::model::FinishReason::length(),
            usage: Some(Usage::new(3, 1)),
        })),
        "{parts:?}"
    );
}

#[tokio::test]
async fn a_json_error_answering_a_stream_request_is_the_providers_error() {
    let body = json!({"error": {"message": "model is loading", "type": "unavailable"}});
    let server = server_answering(ResponseTemplate::new(200).set_body_json(body)).await;
    let model = OpenAi::new("m").base_url(server.uri());
    let err = drain(&model, ModelRequest::new("m").user("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ModelError::Provider {
            provider: "openai".into(),
            kind: "unavailable".into(),
            message: "model is loading".into()
        }
    );
}

#[tokio::test]
async fn configuration_mistakes_are_config_errors_before_anything_is_sent() {
    let bad_url = OpenAi::new("m").base_url("not a url");
    let err = bad_url
        .generate(ModelRequest::new("m").user("hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ModelError::Config { message } if message.contains("base URL `not a url`")),
        "{err:?}"
    );
    let ftp = Anthropic::new("m").base_url("ftp://example.com");
    assert!(matches!(
        ftp.stream(ModelRequest::new("m").user("hi")).await,
        Err(ModelError::Config { .. })
    ));
    let bad_header = OpenAiResponses::new("m").header("bad header", "x");
    assert!(matches!(
        bad_header.generate(ModelRequest::new("m").user("hi")).await,
        Err(ModelError::Config { message }) if message.contains("bad header")
    ));
    let mut seeded = ModelRequest::new("m").user("hi");
    seeded.settings.seed = Some(1);
    assert!(matches!(
        Anthropic::new("m").generate(seeded).await,
        Err(ModelError::Config { message }) if message.contains("seed")
    ));
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let model = OpenAi::new("m").base_url(format!("http://127.0.0.1:{port}/v1"));
    let err = model
        .generate(ModelRequest::new("m").user("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::Transport { .. }), "{err:?}");
    assert!(err.is_retryable());
}

fn fold(model: &dyn Model, parts: &[StreamPart]) -> ModelResponse {
    let mut acc = tracedeck::model::ResponseAccumulator::new(model.info());
    for part in parts {
        acc.push(part);
    }
    acc.finish()
}

// ------------------------------------------- partial output of a failed stream

/// Contract 4: a stream that ends in an error keeps everything the provider
/// said before it. A finish reason and usage that arrived before an error
/// event, or before a body cut short of its end marker, reach the caller as a
/// `Finish` part ahead of the error, and stay in the failed span's output.
#[tokio::test]
async fn a_stream_that_ends_in_an_error_keeps_the_finish_reason_and_usage_it_received() {
    let chat_head = concat!(
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    );
    let anthropic_head = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
    );
    let cases: Vec<(&str, String, &str, Usage, &str)> = vec![
        (
            "openai",
            format!(
                "{chat_head}data: {{\"error\":{{\"message\":\"late failure\",\"type\":\"server_error\"}},\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":2}}}}\n\n"
            ),
            "stop",
            Usage::new(5, 2),
            "provider",
        ),
        (
            "openai",
            format!(
                "{chat_head}data: {{\"id\":\"c1\",\"choices\":[],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":2}}}}\n\n"
            ),
            "stop",
            Usage::new(5, 2),
            "truncated",
        ),
        (
            "anthropic",
            format!(
                "{anthropic_head}event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}}}\n\n"
            ),
            "end_turn",
            Usage::new(7, 2),
            "provider",
        ),
        (
            "anthropic",
            anthropic_head.to_owned(),
            "end_turn",
            Usage::new(7, 2),
            "truncated",
        ),
        (
            "responses",
            concat!(
                "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n",
                "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"status\":\"failed\",",
                "\"error\":{\"code\":\"server_error\",\"message\":\"boom\"},\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}}\n\n",
            )
            .to_owned(),
            "failed",
            Usage::new(5, 2),
            "provider",
        ),
    ];
    for (which, body, raw_finish, usage, ending) in cases {
        let label = format!("{which}/{ending}");
        let server = SseServer::serve(Reply::sse_events(&body)).await.unwrap();
        let inner: Box<dyn Model> = match which {
            "openai" => Box::new(OpenAi::new("m").base_url(server.url())),
            "responses" => Box::new(OpenAiResponses::new("m").base_url(server.url())),
            _ => Box::new(Anthropic::new("m").base_url(server.url())),
        };
        let traces = tracedeck::Collector::new();
        let model = tracedeck::Recorder::new(inner, traces.clone());
        let items = tracedeck::with_span("turn", label.clone(), async {
            let mut stream = model
                .stream(ModelRequest::new("m").user("hi"))
                .await
                .unwrap();
            let mut items = Vec::new();
            while let Some(item) = stream.next().await {
                items.push(item);
            }
            items
        })
        .await;
        // The caller: the text, the finish the provider sent, then the error.
        let (last, parts) = items.split_last().unwrap();
        match (ending, last) {
            ("provider", Err(ModelError::Provider { .. }))
            | ("truncated", Err(ModelError::Truncated { .. })) => {}
            _ => panic!("{label}: ends with {last:?}"),
        }
        let parts: Vec<StreamPart> = parts.iter().cloned().map(Result::unwrap).collect();
        let finishes: Vec<_> = parts
            .iter()
            .filter_map(|p| match p {
                StreamPart::Finish { reason, usage } => Some((reason.raw.clone(), *usage)),
                _ => None,
            })
            .collect();
        assert_eq!(
            finishes,
            [(raw_finish.to_owned(), Some(usage))],
            "{label}: one Finish before the error: {parts:?}"
        );
        // The recording: status error, the partial output holds all of it.
        let trace = &traces.traces()[0];
        let span = trace.llm_spans().next().unwrap();
        assert_eq!(span.status, tracedeck::span::SpanStatus::Error, "{label}");
        let output: ModelResponse =
            serde_json::from_value(span.output.clone().expect("a partial output").into()).unwrap();
        assert_eq!(output.text, "Hi", "{label}");
        assert_eq!(
            output.finish_reason.map(|f| f.raw),
            Some(raw_finish.to_owned()),
            "{label}"
        );
        assert_eq!(output.usage, Some(usage), "{label}");
    }
}
