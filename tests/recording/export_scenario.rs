//! The scenario both exports are checked against (contract 12): the stream
//! opens at 800 ms with stream start, metadata and a role-only delta (all
//! framing); the first text comes at 1.2 s. An exporter taking TTFT from the
//! first part would say 0.8.

use std::time::Duration;

use tracedeck::model::{FinishReason, Role, Usage};
use tracedeck::{Script, StreamPart};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Framing at 800 ms, `Hello` at 1.2 s, ` world` 30 ms later, then a
/// `length` finish with usage 12 -> 7 (4 cached, 2 cache writes, 3 reasoning).
pub fn framing_then_content() -> Script {
    let usage = Usage {
        cached_input_tokens: Some(4),
        cache_creation_input_tokens: Some(2),
        reasoning_tokens: Some(3),
        ..Usage::new(12, 7)
    };
    Script::new()
        .open_after(ms(800))
        .part(StreamPart::StreamStart)
        .part(StreamPart::ResponseMetadata {
            id: Some("resp_42".into()),
            model: Some("gpt-test-2025-01-01".into()),
        })
        .part(StreamPart::RoleDelta {
            role: Role::Assistant,
        })
        .part_after(ms(400), StreamPart::text("Hello"))
        .part_after(ms(30), StreamPart::text(" world"))
        .part_after(
            ms(5),
            StreamPart::Finish {
                reason: FinishReason::length(),
                usage: Some(usage),
            },
        )
}
