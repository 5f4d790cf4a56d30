//! A small realistic session to record and replay: plan with `generate`,
//! then compose the answer with `stream` inside a child task span.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracedeck::model::{FinishReason, Role, Usage};
use tracedeck::{Model, ModelError, ModelRequest, Script, ScriptedModel, StreamPart, with_span};

/// The root input of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub id: u32,
    pub text: String,
}

impl Question {
    pub fn new(id: u32) -> Self {
        Self {
            id,
            text: format!("question {id}: what is {id} squared?"),
        }
    }
}

/// The request that plans an answer.
pub fn plan_request(q: &Question) -> ModelRequest {
    ModelRequest::new("m")
        .system("Plan the answer in one line.")
        .user(&q.text)
        .temperature(0.0)
}

/// The request that streams the answer.
pub fn compose_request(q: &Question, plan: &str) -> ModelRequest {
    ModelRequest::new("m").user(format!("{}\nPlan: {plan}", q.text))
}

/// The user function under test.
pub async fn session(q: Question, model: Arc<dyn Model>) -> Result<String, String> {
    let plan = model
        .generate(plan_request(&q))
        .await
        .map_err(|e| e.to_string())?
        .text;
    with_span("compose", &plan, async {
        let mut parts = model.stream(compose_request(&q, &plan)).await?;
        let mut text = String::new();
        while let Some(part) = parts.next().await {
            if let StreamPart::TextDelta { text: t } = part? {
                text.push_str(&t);
            }
        }
        Ok::<_, ModelError>(text)
    })
    .await
    .map_err(|e| e.to_string())
}

/// The live model: answers each request with its own marker, on
/// millisecond-aligned timings with framing before the first token.
pub fn live_model() -> ScriptedModel {
    ScriptedModel::from_fn(|req: &ModelRequest| {
        let last = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.text_content())
            .unwrap_or_default();
        let marker = last.lines().next().unwrap_or_default().to_owned();
        if req.system.is_some() {
            Script::new()
                .open_after(ms(120))
                .part(StreamPart::text(format!("plan for {marker}")))
                .part(StreamPart::finish(FinishReason::stop()))
        } else {
            Script::new()
                .open_after(ms(300))
                .part(StreamPart::StreamStart)
                .part(StreamPart::RoleDelta {
                    role: Role::Assistant,
                })
                .part_after(ms(200), StreamPart::text("answer to "))
                .part_after(ms(35), StreamPart::text(marker))
                .part_after(
                    ms(5),
                    StreamPart::Finish {
                        reason: FinishReason::stop(),
                        usage: Some(Usage::new(12, 7)),
                    },
                )
        }
    })
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
