//! rig through tracedeck, in process (feature `rig`): a rig-agent `Agent`
//! with a tool over `tracedeck::adapters::rig::completion_model`, on tokio's
//! paused clock.
//!
//! - an agent turn with a tool round trip, recorded into a store through a
//!   `Recorder` around a `ScriptedModel`, is one trace (the turn, its two
//!   llm calls and the tool) and replays offline from the store, through
//!   `replay` and through a `CassetteModel` in Replay mode, to the same
//!   answer and the same span tree;
//! - a streamed call hands each part to rig at its offset (pass-through),
//!   and the replayed stream arrives at the recorded offsets with the
//!   recorded TTFT;
//! - 16 concurrent agent turns over one shared rig model land each under
//!   its own root;
//! - a model error is rig's error with the same message, and is recorded
//!   with status error;
//! - rig's request (preamble, history, tool results, tools, settings,
//!   additional params) arrives as the `ModelRequest` the docs promise.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rig_agent::AgentBuilder;
use rig_core::completion::CompletionRequest;
use rig_core::streaming::{Item, StreamEvent};
use rig_core::tool::PortableTool;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use tracedeck::adapters::rig::{TracedeckWire, completion_model};
use tracedeck::context::with_span_result;
use tracedeck::model::{ContentPart, FinishReason, ModelInfo, Role, ToolChoice, Usage};
use tracedeck::replay::{CassetteModel, replay};
use tracedeck::span::{Span, SpanKind, SpanStatus};
use tracedeck::{
    Collector, Mode, Model, ModelError, ModelRequest, Player, Recorder, Script, ScriptedModel,
    StreamPart, Trace, with_span,
};

use crate::common::TempStore;

const KEY: &str = "weather-turn";
const MODEL: &str = "gpt-4o-mini";
const PREAMBLE: &str = "You are a concise assistant. Use tools when they help.";

/// The weather tool: deterministic, and its body runs in a span of its own.
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
            json!({"city": args.city, "temp_c": 8 + args.city.len() * 3 % 20})
        })
        .await)
    }
}

/// The city a question names: its last word.
fn city_of(text: &str) -> String {
    text.trim_end_matches('?')
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A model that calls the weather tool for the question's city, then
/// answers from the tool's result; each city's delays differ, so
/// concurrent turns interleave.
fn weather_model() -> ScriptedModel {
    ScriptedModel::from_fn(|req: &ModelRequest| {
        let question = req
            .messages
            .iter()
            .find(|m| m.role == Role::User)
            .map(|m| m.text_content())
            .unwrap_or_default();
        let city = city_of(&question);
        let step = Duration::from_millis(10 + (city.len() as u64 * 7) % 40);
        let result = req.messages.iter().find_map(|m| {
            m.content.iter().find_map(|p| match p {
                ContentPart::ToolResult { content, .. } => Some(content.clone()),
                _ => None,
            })
        });
        match result {
            None => Script::new()
                .open_after(step * 3)
                .part(StreamPart::ResponseMetadata {
                    id: Some(format!("resp-{city}-1")),
                    model: Some(MODEL.into()),
                })
                .part_after(
                    step,
                    StreamPart::ToolCallStart {
                        id: format!("call_{city}"),
                        name: "get_weather".into(),
                    },
                )
                .part_after(
                    step,
                    StreamPart::ToolCallDelta {
                        id: format!("call_{city}"),
                        arguments: format!("{{\"city\":\"{city}\"}}"),
                    },
                )
                .part(StreamPart::Finish {
                    reason: FinishReason::tool_calls(),
                    usage: Some(Usage::new(40, 9)),
                }),
            Some(result) => {
                let temp =
                    serde_json::from_str::<Value>(&result).unwrap_or_default()["temp_c"].clone();
                Script::new()
                    .open_after(step * 2)
                    .part_after(step, StreamPart::text(format!("It is {temp}°C")))
                    .part_after(step, StreamPart::text(format!(" in {city}.")))
                    .part(StreamPart::Finish {
                        reason: FinishReason::stop(),
                        usage: Some(Usage::new(60, 8)),
                    })
            }
        }
    })
    .with_info(ModelInfo::new("openai", MODEL))
}

/// The application code: one agent turn with the weather tool over `model`,
/// knowing nothing of recording or replay.
async fn agent_turn(model: Arc<dyn Model>, question: String) -> Result<String, String> {
    let agent = AgentBuilder::new(completion_model(model))
        .preamble(PREAMBLE)
        .tool(Weather)
        .build();
    agent
        .prompt(question.as_str())
        .max_turns(3)
        .await
        .map(|response| response.output())
        .map_err(|error| error.to_string())
}

fn llm_spans(trace: &Trace) -> Vec<&Span> {
    trace.llm_spans().collect()
}

/// A trace with its ids, times and structure, for comparing a replay.
fn shape(trace: &Trace) -> Vec<Value> {
    trace
        .spans
        .iter()
        .map(|s| {
            json!({
                "id": s.id, "parent": s.parent, "key": s.key, "kind": s.kind,
                "status": s.status, "input": s.input, "output": s.output,
                "timing": s.timing, "parts": s.parts,
            })
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_agent_turn_with_a_tool_is_recorded_then_replayed_offline_from_the_store() {
    let store = TempStore::new();
    let question = "What's the weather in Lisbon?".to_owned();

    // Record: the agent over a recorder writing to the store.
    let recorder = Arc::new(Recorder::new(weather_model(), store.sink()));
    let answer = with_span_result(
        KEY,
        &question,
        agent_turn(recorder.clone(), question.clone()),
    )
    .await
    .unwrap();
    assert_eq!(answer, "It is 26°C in Lisbon.");
    assert!(recorder.flush().await.is_clean());

    let stored = store.traces(KEY).unwrap();
    assert!(stored.errors.is_empty(), "{:?}", stored.errors);
    assert_eq!(stored.traces.len(), 1);
    let trace = &stored.traces[0].trace;
    let root = trace.root();
    assert_eq!(root.kind, SpanKind::Task);
    assert_eq!(root.input, json!(question));
    assert_eq!(root.output, Some(json!({"Ok": answer}).into()));

    // The turn's children: the model asks for the tool, the tool runs, the
    // model answers; all three under the turn, in that order.
    let children: Vec<&Span> = trace.children(root.id).collect();
    let kinds: Vec<(&str, SpanKind)> = children.iter().map(|s| (s.key.as_str(), s.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("llm", SpanKind::Llm),
            ("tool/get_weather", SpanKind::Task),
            ("llm", SpanKind::Llm)
        ],
        "{}",
        trace.render()
    );
    let llm = llm_spans(trace);
    assert_eq!(llm.len(), 2);
    for span in &llm {
        assert_eq!(span.parent, Some(root.id));
        assert!(!span.streamed, "`prompt(..).await` makes unary calls");
        assert_eq!(span.status, SpanStatus::Ok);
    }
    // The first call: rig's preamble, the question, the tool; its output,
    // the tool call with its arguments.
    let first = &llm[0].input;
    assert_eq!(first["system"], json!(PREAMBLE));
    assert_eq!(first["messages"][0]["content"][0]["text"], json!(question));
    assert_eq!(first["tools"][0]["name"], json!("get_weather"));
    let output = llm[0].output.as_ref().unwrap();
    assert_eq!(output["tool_calls"][0]["name"], json!("get_weather"));
    assert_eq!(
        output["tool_calls"][0]["arguments"],
        json!({"city": "Lisbon"})
    );
    // The tool ran with those arguments.
    assert_eq!(children[1].input, json!("Lisbon"));
    // The second call carries the call and its result back.
    let messages = llm[1].input["messages"].as_array().unwrap();
    assert_eq!(messages[1]["role"], json!("assistant"));
    assert_eq!(messages[1]["content"][0]["type"], json!("tool_call"));
    assert_eq!(messages[1]["content"][0]["id"], json!("call_Lisbon"));
    assert_eq!(messages[2]["role"], json!("tool"));
    assert_eq!(messages[2]["content"][0]["call_id"], json!("call_Lisbon"));
    assert_eq!(
        serde_json::from_str::<Value>(messages[2]["content"][0]["content"].as_str().unwrap())
            .unwrap(),
        json!({"city": "Lisbon", "temp_c": 26})
    );
    assert_eq!(
        llm[1].output.as_ref().unwrap()["text"],
        json!("It is 26°C in Lisbon.")
    );

    // Replay through `replay`: no live model; the same tree, times included.
    let report = replay(&store, KEY, |question: String, model| async move {
        agent_turn(model, question).await
    })
    .await
    .unwrap();
    report.assert_unchanged();

    // Replay through a CassetteModel in Replay mode, in front of a live
    // model that fails if it is ever called.
    let unreachable = ScriptedModel::new(
        Script::new().fail_to_open(ModelError::other("the live model was called in Replay")),
    )
    .with_info(ModelInfo::new("openai", MODEL));
    let cassette = CassetteModel::on((*store).clone())
        .mode(Mode::Replay)
        .key(KEY)
        .in_front_of(unreachable.clone())
        .unwrap();
    let replayed = Collector::new();
    let model = Arc::new(Recorder::new(cassette, replayed.clone()));
    let again = with_span_result(KEY, &question, agent_turn(model, question.clone()))
        .await
        .unwrap();
    assert_eq!(again, answer);
    assert!(unreachable.requests().is_empty());
    let replayed = replayed.traces_for(KEY);
    assert_eq!(replayed.len(), 1);
    assert_eq!(shape(&replayed[0]), shape(trace));
}

/// A stream that opens after 80 ms, then metadata, two text deltas 50 and
/// 30 ms apart, usage and a finish.
fn stream_script() -> Script {
    Script::new()
        .open_after(Duration::from_millis(80))
        .part(StreamPart::ResponseMetadata {
            id: Some("resp-1".into()),
            model: Some(MODEL.into()),
        })
        .part_after(Duration::from_millis(50), StreamPart::text("Hel"))
        .part_after(Duration::from_millis(30), StreamPart::text("lo"))
        .part_after(
            Duration::from_millis(5),
            StreamPart::Usage {
                usage: Usage::new(12, 3),
            },
        )
        .part(StreamPart::Finish {
            reason: FinishReason::stop(),
            usage: Some(Usage::new(12, 3)),
        })
}

/// Streams one rig call over `model` and returns each text fragment with
/// when it reached rig's consumer (from the call), and the folded response.
async fn stream_through_rig(
    model: Arc<dyn Model>,
) -> (
    Vec<(Duration, String)>,
    rig_core::completion::CompletionResponse,
) {
    let rig = completion_model(model);
    let start = Instant::now();
    let mut stream = rig.stream(CompletionRequest::new("Say hello")).unwrap();
    let mut texts = Vec::new();
    while let Some(item) = stream.next().await {
        if let Item::Event(StreamEvent::Text { text, .. }) = item.unwrap() {
            texts.push((start.elapsed(), text));
        }
    }
    (texts, stream.finish().await.unwrap())
}

#[tokio::test(start_paused = true)]
async fn a_streamed_call_reaches_rig_part_by_part_at_the_recorded_offsets() {
    let recorded = Collector::new();
    let model = Arc::new(Recorder::new(
        ScriptedModel::new(stream_script()).with_info(ModelInfo::new("openai", MODEL)),
        recorded.clone(),
    ));
    let (texts, response) = with_span("stream", "hello", stream_through_rig(model)).await;

    // Pass-through: each fragment arrives when the model yields it.
    assert_eq!(
        texts,
        [
            (Duration::from_millis(130), "Hel".to_owned()),
            (Duration::from_millis(160), "lo".to_owned())
        ]
    );
    assert_eq!(response.text(), "Hello");
    assert_eq!(response.usage.input_tokens, Some(12));
    assert_eq!(response.usage.output_tokens, Some(3));
    assert_eq!(response.usage.total_tokens, Some(15));
    assert_eq!(
        response.finish_reason(),
        Some(rig_core::completion::FinishReason::Stop)
    );
    assert_eq!(response.response_id(), Some("resp-1"));

    let traces = recorded.traces_for("stream");
    let span = traces[0].llm_spans().next().unwrap().clone();
    assert!(span.streamed);
    assert_eq!(span.status, SpanStatus::Ok);
    assert_eq!(span.timing.ttft_us, Some(130_000));
    assert_eq!(
        span.timing.duration_us, 165_000,
        "the stream was read to its end"
    );
    let text_offsets: Vec<u64> = span
        .parts
        .iter()
        .filter(|p| matches!(p.part, StreamPart::TextDelta { .. }))
        .map(|p| p.offset_us)
        .collect();
    assert_eq!(text_offsets, [130_000, 160_000]);

    // Replay: the parts reach rig at the recorded offsets, TTFT unchanged.
    let replayed = Collector::new();
    let player = Recorder::new(Player::from_traces("stream", traces), replayed.clone());
    let (again, response) =
        with_span("stream", "hello", stream_through_rig(Arc::new(player))).await;
    assert_eq!(again, texts);
    assert_eq!(response.text(), "Hello");
    let replayed_span = replayed.traces_for("stream")[0]
        .llm_spans()
        .next()
        .unwrap()
        .clone();
    assert_eq!(replayed_span.timing, span.timing);
    assert_eq!(replayed_span.parts, span.parts);
}

/// [`agent_turn`], streamed: `prompt(..).stream()`, answering the final
/// response's output.
async fn streamed_agent_turn(question: String, model: Arc<dyn Model>) -> Result<String, String> {
    let agent = AgentBuilder::new(completion_model(model))
        .preamble(PREAMBLE)
        .tool(Weather)
        .build();
    let mut stream = agent.prompt(question.as_str()).max_turns(3).stream();
    let mut answer = Err("no final response".to_owned());
    while let Some(item) = stream.next().await {
        if let rig_agent::agent::MultiTurnStreamItem::FinalResponse(response) =
            item.map_err(|e| e.to_string())?
        {
            answer = Ok(response.output());
        }
    }
    answer
}

#[tokio::test(start_paused = true)]
async fn a_streamed_agent_turn_records_streamed_calls_with_ttft_and_replays_them_unchanged() {
    let store = TempStore::new();
    let question = "What's the weather in Porto?".to_owned();
    let recorder = Arc::new(Recorder::new(weather_model(), store.sink()));
    let answer = with_span_result(
        KEY,
        &question,
        streamed_agent_turn(question.clone(), recorder.clone()),
    )
    .await
    .unwrap();
    assert_eq!(answer, "It is 23°C in Porto.");
    assert!(recorder.flush().await.is_clean());

    let stored = store.traces(KEY).unwrap();
    let trace = &stored.traces[0].trace;
    let llm = llm_spans(trace);
    assert_eq!(llm.len(), 2, "{}", trace.render());
    // Porto: every step of its script is 10 + 35 % 40 = 45 ms. The tool
    // call starts 45 ms after a 135 ms open; the answer's first text 45 ms
    // after a 90 ms open.
    assert!(
        llm.iter()
            .all(|s| s.streamed && s.parent == Some(trace.root().id))
    );
    assert_eq!(llm[0].timing.ttft_us, Some(180_000));
    assert_eq!(llm[1].timing.ttft_us, Some(135_000));

    // Replayed offline, the streamed turn is unchanged, times included.
    let report = replay(&store, KEY, streamed_agent_turn).await.unwrap();
    report.assert_unchanged();
}

#[tokio::test(start_paused = true)]
async fn a_unary_call_is_one_generate_span_with_the_response_as_raw() {
    let recorded = Collector::new();
    let model = Arc::new(Recorder::new(
        ScriptedModel::new(stream_script()).with_info(ModelInfo::new("openai", MODEL)),
        recorded.clone(),
    ));
    let rig = completion_model(model);
    let response = with_span_result(
        "unary",
        "hello",
        rig.call(CompletionRequest::new("Say hello")),
    )
    .await
    .unwrap();
    assert_eq!(response.text(), "Hello");
    assert_eq!(response.usage.total_tokens, Some(15));
    assert_eq!(response.raw["text"], json!("Hello"));
    let trace = &recorded.traces_for("unary")[0];
    let span = trace.llm_spans().next().unwrap();
    assert!(!span.streamed);
    assert_eq!(span.parent, Some(trace.root().id));
    assert_eq!(span.timing.duration_us, 165_000);
}

#[tokio::test(start_paused = true)]
async fn sixteen_concurrent_agent_turns_on_one_shared_model_attribute_exactly() {
    let recorded = Collector::new();
    let shared: Arc<dyn Model> = Arc::new(Recorder::new(weather_model(), recorded.clone()));
    let cities: Vec<String> = (0..16)
        .map(|i| format!("City{i:02}x{}", "y".repeat(i % 5)))
        .collect();
    let turns: Vec<_> = cities
        .iter()
        .map(|city| {
            let model = shared.clone();
            let question = format!("What's the weather in {city}?");
            tokio::spawn(with_span_result(
                KEY,
                question.clone(),
                agent_turn(model, question),
            ))
        })
        .collect();
    let answers = futures::future::join_all(turns).await;
    for (city, answer) in cities.iter().zip(answers) {
        assert!(answer.unwrap().unwrap().ends_with(&format!(" in {city}.")));
    }

    let traces = recorded.traces_for(KEY);
    assert_eq!(traces.len(), 16);
    for trace in &traces {
        let root = trace.root();
        let city = city_of(root.input.as_str().unwrap());
        let llm = llm_spans(trace);
        assert_eq!(llm.len(), 2, "{}", trace.render());
        for span in llm {
            assert_eq!(span.parent, Some(root.id));
            // Every call of this turn asked about this turn's city.
            let asked = span.input["messages"][0]["content"][0]["text"]
                .as_str()
                .unwrap();
            assert_eq!(city_of(asked), city);
        }
        let tool = trace
            .spans
            .iter()
            .find(|s| s.key == "tool/get_weather")
            .unwrap();
        assert_eq!(tool.input, json!(city));
        assert_eq!(tool.parent, Some(root.id));
    }
}

#[tokio::test(start_paused = true)]
async fn a_model_error_is_rigs_error_with_its_message_and_is_recorded_as_an_error() {
    // Failing to open: the agent's turn fails with the model's message.
    let recorded = Collector::new();
    let error = ModelError::Http {
        provider: "openai".into(),
        status: 429,
        message: "slow down".into(),
        retry_after_ms: Some(2000),
    };
    let model = Arc::new(Recorder::new(
        ScriptedModel::new(
            Script::new()
                .open_after(Duration::from_millis(40))
                .fail_to_open(error.clone()),
        ),
        recorded.clone(),
    ));
    let failed = with_span_result(KEY, "q", agent_turn(model, "Weather in Oslo?".into())).await;
    let message = failed.unwrap_err();
    assert!(message.contains("slow down"), "{message}");
    let trace = &recorded.traces_for(KEY)[0];
    assert_eq!(trace.root().status, SpanStatus::Error);
    let span = trace.llm_spans().next().unwrap();
    assert_eq!(span.status, SpanStatus::Error);
    assert_eq!(span.error, Some(error.clone()));

    // The rig error itself keeps the HTTP status.
    let rig_error = tracedeck::adapters::rig::provider_error(error);
    assert_eq!(
        rig_error.provider_response_status().map(|s| s.as_u16()),
        Some(429)
    );
    assert!(rig_error.to_string().contains("slow down"));

    // Failing mid-stream: rig's stream ends in an error with the message.
    let recorded = Collector::new();
    let broken = ModelError::Truncated {
        provider: "openai".into(),
        message: "no [DONE]".into(),
    };
    let model = Arc::new(Recorder::new(
        ScriptedModel::new(
            Script::new()
                .part_after(Duration::from_millis(10), StreamPart::text("Hel"))
                .error_after(Duration::from_millis(10), broken.clone()),
        ),
        recorded.clone(),
    ));
    let rig = completion_model(model);
    let result = with_span("broken", "q", async {
        let mut stream = rig.stream(CompletionRequest::new("hi")).unwrap();
        let mut errors = Vec::new();
        while let Some(item) = stream.next().await {
            if let Err(error) = item {
                errors.push(error.to_string());
            }
        }
        errors
    })
    .await;
    assert_eq!(result.len(), 1);
    assert!(result[0].contains("no [DONE]"), "{result:?}");
    let span = recorded.traces_for("broken")[0]
        .llm_spans()
        .next()
        .unwrap()
        .clone();
    assert_eq!(span.status, SpanStatus::Error);
    assert_eq!(span.error, Some(broken));
}

#[tokio::test(start_paused = true)]
async fn rigs_request_arrives_as_the_documented_model_request() {
    let scripted =
        ScriptedModel::new(Script::text("ok")).with_info(ModelInfo::new("openai", MODEL));
    let rig = completion_model(Arc::new(scripted.clone()));
    let call = rig_core::message::ToolCall::from_wire(
        "call_1",
        rig_core::message::ToolFunction::new(
            rig_core::message::ToolName::new("get_weather").unwrap(),
            json!({"city": "Oslo"}),
        ),
    );
    let result = call.result(vec![rig_core::message::ToolResultContent::Text(
        rig_core::message::Text::new("{\"temp_c\":3}"),
    )]);
    let request = CompletionRequest::new("Weather in Oslo?")
        .preamble("Be brief.")
        .messages([
            rig_core::message::Message::user("Hi"),
            rig_core::message::Message::Assistant(rig_core::message::AssistantMessage::new(vec![
                rig_core::message::AssistantContent::ToolCall(call),
            ])),
            rig_core::message::Message::User {
                content: vec![rig_core::message::UserContent::ToolResult(result)],
            },
        ])
        .tool(rig_core::completion::ToolDefinition::new(
            rig_core::message::ToolName::new("get_weather").unwrap(),
            "The weather",
            json!({"type": "object"}),
        ))
        .temperature(0.2)
        .max_tokens(64)
        .seed(7)
        .tool_choice(rig_core::message::ToolChoice::Required)
        .additional_params(json!({"user": "u-1"}));
    let response = rig.call(request).await.unwrap();
    assert_eq!(response.text(), "ok");

    let sent = scripted.requests();
    assert_eq!(sent.len(), 1);
    let sent = &sent[0];
    assert_eq!(sent.model, MODEL);
    assert_eq!(sent.system.as_deref(), Some("Be brief."));
    let roles: Vec<Role> = sent.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::Tool, Role::User],
        "{sent:#?}"
    );
    assert_eq!(
        sent.messages[1].content,
        [ContentPart::ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: json!({"city": "Oslo"}),
        }]
    );
    assert_eq!(
        sent.messages[2].content,
        [ContentPart::ToolResult {
            call_id: "call_1".into(),
            content: "{\"temp_c\":3}".into(),
            is_error: false,
        }]
    );
    assert_eq!(sent.messages[3].text_content(), "Weather in Oslo?");
    assert_eq!(sent.tools[0].name, "get_weather");
    assert_eq!(sent.tools[0].description.as_deref(), Some("The weather"));
    assert_eq!(sent.settings.temperature, Some(0.2));
    assert_eq!(sent.settings.max_tokens, Some(64));
    assert_eq!(sent.settings.seed, Some(7));
    assert_eq!(sent.settings.tool_choice, Some(ToolChoice::Required));
    assert_eq!(sent.extra.get("user"), Some(&json!("u-1")));

    // An option the boundary has no place for is refused by rig's policy,
    // before the model is called.
    let refused = rig
        .call(CompletionRequest::new("hi").service_tier(rig_core::completion::ServiceTier::Flex))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("service_tier"), "{refused}");
    assert_eq!(scripted.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn interleaved_tool_calls_and_text_reach_rig_as_their_own_blocks() {
    let delta = |id: &str, arguments: &str| StreamPart::ToolCallDelta {
        id: id.into(),
        arguments: arguments.into(),
    };
    let script = Script::new()
        .part(StreamPart::reasoning("Two cities."))
        .part(StreamPart::text("Checking "))
        .part(StreamPart::text("both."))
        .part(StreamPart::ToolCallStart {
            id: "call_a".into(),
            name: "get_weather".into(),
        })
        .part(delta("call_a", "{\"city\":"))
        .part(StreamPart::ToolCallStart {
            id: "call_b".into(),
            name: "get_weather".into(),
        })
        .part(delta("call_b", "{\"city\":\"Rome\"}"))
        .part(delta("call_a", "\"Oslo\"}"))
        .part(StreamPart::Finish {
            reason: FinishReason::tool_calls(),
            usage: None,
        });
    let rig = completion_model(Arc::new(ScriptedModel::new(script)));
    for streamed in [false, true] {
        let response = if streamed {
            rig.stream(CompletionRequest::new("hi"))
                .unwrap()
                .finish()
                .await
                .unwrap()
        } else {
            rig.call(CompletionRequest::new("hi")).await.unwrap()
        };
        assert_eq!(response.reasoning(), "Two cities.");
        assert_eq!(response.text(), "Checking both.");
        let calls: Vec<(String, Value)> = response
            .tool_calls()
            .map(|c| (c.id.wire().into_owned(), c.function.arguments_value()))
            .collect();
        assert_eq!(
            calls,
            [
                ("call_a".to_owned(), json!({"city": "Oslo"})),
                ("call_b".to_owned(), json!({"city": "Rome"}))
            ],
            "streamed: {streamed}"
        );
        assert_eq!(
            response.finish_reason(),
            Some(rig_core::completion::FinishReason::ToolCalls)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_the_boundary_cannot_hold_is_rigs_request_error_naming_it() {
    let scripted = ScriptedModel::new(Script::text("ok"));
    let rig = completion_model(Arc::new(scripted.clone()));
    let name = |n: &str| rig_core::message::ToolName::new(n).unwrap();
    let two_tools =
        CompletionRequest::new("hi").tool_choice(rig_core::message::ToolChoice::Specific {
            function_names: vec![name("a"), name("b")],
        });
    let error = rig.call(two_tools).await.unwrap_err();
    assert_eq!(error.kind(), rig_core::ErrorKind::Request);
    assert!(error.to_string().contains("exactly one tool"), "{error}");

    let mut not_an_object = CompletionRequest::new("hi");
    not_an_object.additional_params = Some(json!(["a"]));
    let error = rig.call(not_an_object).await.unwrap_err();
    assert!(error.to_string().contains("additional_params"), "{error}");
    assert!(scripted.requests().is_empty(), "the model is never called");
}

#[test]
fn the_wire_names_the_models_provider_and_id() {
    let wire = TracedeckWire::new(Arc::new(
        ScriptedModel::new(Script::text("x")).with_info(ModelInfo::new("anthropic", "claude")),
    ));
    let model = rig_core::Model::new(wire.clone(), wire);
    assert_eq!(model.name(), "anthropic");
    assert_eq!(model.id(), Some("claude"));
}

#[tokio::test(start_paused = true)]
async fn concurrent_turns_on_one_shared_agent_attribute_exactly_with_the_attribution_hook() {
    let recorded = Collector::new();
    let shared: Arc<dyn Model> = Arc::new(Recorder::new(weather_model(), recorded.clone()));
    // One agent for all turns: rig-agent serves its model calls from
    // whichever turn polls its bus; `agent(..)` adds the `Attribution` hook.
    let agent = Arc::new(
        tracedeck::adapters::rig::agent(shared)
            .preamble(PREAMBLE)
            .tool(Weather)
            .build(),
    );
    let cities: Vec<String> = (0..16)
        .map(|i| format!("Town{i:02}x{}", "y".repeat(i % 5)))
        .collect();
    let turns: Vec<_> = cities
        .iter()
        .map(|city| {
            let agent = agent.clone();
            let question = format!("What's the weather in {city}?");
            tokio::spawn(with_span_result(KEY, question.clone(), async move {
                agent
                    .prompt(question.as_str())
                    .max_turns(3)
                    .await
                    .map(|response| response.output())
                    .map_err(|error| error.to_string())
            }))
        })
        .collect();
    for (city, answer) in cities.iter().zip(futures::future::join_all(turns).await) {
        assert!(answer.unwrap().unwrap().ends_with(&format!(" in {city}.")));
    }

    let traces = recorded.traces_for(KEY);
    assert_eq!(traces.len(), 16);
    for trace in &traces {
        let root = trace.root();
        let city = city_of(root.input.as_str().unwrap());
        let llm = llm_spans(trace);
        assert_eq!(llm.len(), 2, "{}", trace.render());
        for span in llm {
            assert_eq!(span.parent, Some(root.id));
            let asked = span.input["messages"][0]["content"][0]["text"]
                .as_str()
                .unwrap();
            assert_eq!(city_of(asked), city, "{}", trace.render());
            // The hook's tag is taken out before the request is recorded.
            assert_eq!(span.input.get("extra"), None);
        }
    }
}
