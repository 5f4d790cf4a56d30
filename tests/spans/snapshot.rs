//! Snapshots of a small trace — a root with two `llm` children, one
//! generated and one streamed — as the normalized YAML view and as the
//! rendered text tree. Both are exact on the paused clock.

use std::time::Duration;

use futures::StreamExt;
use tracedeck::model::{FinishReason, ModelInfo, Role, Usage};
use tracedeck::{
    Collector, Model, ModelRequest, ModelResponse, Recorder, Script, ScriptedModel, StreamPart,
    Trace, with_span,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Plans with `generate`, answers with `stream`.
fn model() -> ScriptedModel {
    let info = ModelInfo::new("scripted", "m");
    let plan = {
        let mut response = ModelResponse::text(info.clone(), "Look up the capital of France.");
        response.usage = Some(Usage::new(18, 7));
        Script::new().open_after(ms(250)).respond_with(response)
    };
    let answer = Script::new()
        .open_after(ms(800))
        .part(StreamPart::StreamStart)
        .part(StreamPart::ResponseMetadata {
            id: Some("resp_1".into()),
            model: Some("m-2025-01".into()),
        })
        .part(StreamPart::RoleDelta {
            role: Role::Assistant,
        })
        .part_after(ms(400), StreamPart::text("Paris"))
        .part_after(ms(30), StreamPart::text(" is the capital."))
        .part_after(
            ms(10),
            StreamPart::Finish {
                reason: FinishReason::stop(),
                usage: Some(Usage::new(25, 6)),
            },
        );
    ScriptedModel::from_fn(move |req| {
        if req.system.as_deref() == Some("Plan the answer.") {
            plan.clone()
        } else {
            answer.clone()
        }
    })
    .with_info(info)
}

/// One chat turn: plan, then stream the answer.
async fn chat_turn() -> Trace {
    let traces = Collector::new();
    let model = Recorder::new(model(), traces.clone());
    let question = "What is the capital of France?";
    let answer = with_span("chat-turn", question, async {
        let plan = ModelRequest::new("m")
            .system("Plan the answer.")
            .user(question);
        model.generate(plan).await.map_err(|e| e.to_string())?;
        let answer = ModelRequest::new("m").user(question).max_tokens(64);
        let mut parts = model.stream(answer).await.map_err(|e| e.to_string())?;
        let mut text = String::new();
        while let Some(part) = parts.next().await {
            if let StreamPart::TextDelta { text: delta } = part.map_err(|e| e.to_string())? {
                text.push_str(&delta);
            }
        }
        Ok::<_, String>(text)
    })
    .await;
    assert_eq!(answer.as_deref(), Ok("Paris is the capital."));
    let [trace] = traces.traces().try_into().expect("one trace");
    trace
}

#[tokio::test(start_paused = true)]
async fn a_root_with_a_generated_and_a_streamed_call() {
    let trace = chat_turn().await;
    insta::assert_yaml_snapshot!("chat_turn_snapshot", trace.snapshot());
    insta::assert_snapshot!("chat_turn_render", trace.render());
}

/// Recording the same session twice gives the same snapshot: nothing in it
/// depends on when or where it ran.
#[tokio::test(start_paused = true)]
async fn the_same_session_snapshots_identically_twice() {
    let first = chat_turn().await.snapshot();
    tokio::time::sleep(ms(12_345)).await;
    let second = chat_turn().await.snapshot();
    assert_eq!(first, second);
}
