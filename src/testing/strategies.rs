//! proptest strategies for scripts and stream parts (feature `proptest`).
//!
//! Scripts mix framing (stream start, metadata, role-only and empty deltas,
//! keep-alives, block boundaries, usage) with content, at millisecond delays
//! that force concurrent streams to interleave.

use std::time::Duration;

use proptest::prelude::*;

use super::Script;
use crate::model::{FinishReason, ModelError, Role, StreamPart, Usage};

/// A framing part: never content.
pub fn framing_part() -> impl Strategy<Value = StreamPart> {
    prop_oneof![
        Just(StreamPart::StreamStart),
        Just(StreamPart::ResponseMetadata {
            id: Some("resp_1".into()),
            model: Some("scripted-model".into()),
        }),
        Just(StreamPart::RoleDelta {
            role: Role::Assistant
        }),
        Just(StreamPart::text("")),
        Just(StreamPart::reasoning("")),
        Just(StreamPart::KeepAlive),
        (0u32..4).prop_map(|index| StreamPart::BlockStart { index }),
        (0u32..4).prop_map(|index| StreamPart::BlockStop { index }),
        (0u64..500, 0u64..500).prop_map(|(i, o)| StreamPart::Usage {
            usage: Usage::new(i, o)
        }),
    ]
}

/// A content part: text, reasoning, refusal or a tool call piece, never empty.
pub fn content_part() -> impl Strategy<Value = StreamPart> {
    prop_oneof![
        4 => "[a-z ]{1,8}".prop_map(StreamPart::text),
        1 => "[a-z ]{1,8}".prop_map(StreamPart::reasoning),
        1 => "[a-z]{1,8}".prop_map(|text| StreamPart::RefusalDelta { text }),
        1 => "[a-z_]{1,8}".prop_map(|name| StreamPart::ToolCallStart { id: "call_1".into(), name }),
        1 => "[a-z\"{}:]{1,8}".prop_map(|arguments| StreamPart::ToolCallDelta { id: "call_1".into(), arguments }),
    ]
}

/// Any part, framing or content, finish excluded.
pub fn stream_part() -> impl Strategy<Value = StreamPart> {
    prop_oneof![framing_part(), content_part()]
}

/// A delay of 0 to 50 ms in whole milliseconds, zero a third of the time.
pub fn delay() -> impl Strategy<Value = Duration> {
    prop_oneof![1 => Just(Duration::ZERO), 2 => (1u64..50).prop_map(Duration::from_millis)]
}

/// A script: an open delay, then up to 12 parts mixing framing and content
/// (possibly none of either), ending in a finish, sometimes cut off by an error.
pub fn script() -> impl Strategy<Value = Script> {
    (
        (0u64..1000).prop_map(Duration::from_millis),
        prop::collection::vec((delay(), stream_part()), 0..12),
        delay(),
        prop::option::weighted(0.15, delay()),
    )
        .prop_map(|(open, parts, finish_delay, error)| {
            let mut script = Script::new().open_after(open);
            for (delay, part) in parts {
                script = script.part_after(delay, part);
            }
            match error {
                Some(delay) => script.error_after(delay, ModelError::other("scripted failure")),
                None => script.part_after(finish_delay, StreamPart::finish(FinishReason::stop())),
            }
        })
}

/// A script whose stream never fails: every step is a part.
pub fn clean_script() -> impl Strategy<Value = Script> {
    script().prop_map(|mut s| {
        s.steps
            .retain(|step| matches!(step, super::Step::Part { .. }));
        s
    })
}
