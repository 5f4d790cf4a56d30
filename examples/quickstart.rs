//! Records a concurrent chat session through one shared `Recorder` and prints
//! each trace's span tree with TTFT per call.
//!
//! Run with `cargo run --example quickstart`. No network, no API key: the
//! model is a `ScriptedModel` on tokio's paused clock.

use std::time::Duration;

use futures::StreamExt;
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, Recorder, Role, Script, ScriptedModel, StreamPart,
    with_span,
};

/// A provider-like stream: headers after 300 ms, framing at once, first token
/// 200 ms later, then a token every 20 ms.
fn provider_like(req: &ModelRequest) -> Script {
    let question = req
        .messages
        .last()
        .map(|m| m.text_content())
        .unwrap_or_default();
    let mut script = Script::new()
        .open_after(Duration::from_millis(300))
        .part(StreamPart::StreamStart)
        .part(StreamPart::RoleDelta {
            role: Role::Assistant,
        })
        .part_after(Duration::from_millis(200), StreamPart::text("Answer"));
    for word in question.split_whitespace() {
        script = script.part_after(
            Duration::from_millis(20),
            StreamPart::text(format!(" {word}")),
        );
    }
    script.part(StreamPart::finish(tracedeck::FinishReason::stop()))
}

async fn chat_turn(model: &dyn Model, question: String) -> Result<String, ModelError> {
    let req = ModelRequest::new("gpt-4o-mini")
        .system("Be brief.")
        .user(question);
    let mut parts = model.stream(req).await?;
    let mut answer = String::new();
    while let Some(part) = parts.next().await {
        if let StreamPart::TextDelta { text } = part? {
            answer.push_str(&text);
        }
    }
    Ok(answer)
}

fn main() {
    tracedeck::testing::run_paused(async {
        let traces = Collector::new();
        let model = Recorder::new(ScriptedModel::from_fn(provider_like), traces.clone());

        let turns = (0..8).map(|i| {
            let model = &model;
            let question = format!("question number {i} about {}", ["rust", "tokio"][i % 2]);
            with_span("chat-turn", question.clone(), async move {
                chat_turn(model, question).await
            })
        });
        for answer in futures::future::join_all(turns).await {
            answer.expect("scripted calls do not fail");
        }

        for trace in traces.traces() {
            print!("{}", trace.render());
        }
    });
}
