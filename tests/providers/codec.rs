//! The wire codec (contract 11): decode(encode(recorded call)) is the
//! recorded call, for each protocol.
//!
//! - Every body of the conformance corpus (13 transcripts and 40 real
//!   bodies) is decoded to parts, encoded back into its protocol, and decoded
//!   again: the parts come back *exactly* (framing included), and so do the
//!   accumulated output, finish reason, usage and error.
//! - Generated recordings (any content the protocol carries, hostile
//!   strings, `u64::MAX` counts, every way a stream ends) round-trip through
//!   each protocol: the same content parts in order, output, finish, usage
//!   and error. What a protocol canonicalizes is documented in
//!   `tracedeck::providers::codec`.
//! - Non-streamed answers and HTTP errors, served by the loopback server,
//!   read back through each real adapter as the same `ModelResponse` /
//!   `ModelError`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use proptest::prelude::*;
use serde_json::json;
use tracedeck::model::{
    FinishKind, FinishReason, ModelInfo, ModelResponse, ResponseAccumulator, Role, ToolCall, Usage,
};
use tracedeck::providers::codec::{EncodedCall, EncodedStream, StreamEnd, WireProtocol};
use tracedeck::providers::{Anthropic, BodyDecoder, OpenAi, OpenAiResponses};
use tracedeck::span::RecordedPart;
use tracedeck::testing::{Reply, SseServer};
use tracedeck::{Model, ModelError, ModelRequest, StreamPart};

/// The corpus folder name of each protocol, and the provider its decoder names.
fn corpus_name(protocol: WireProtocol) -> (&'static str, &'static str) {
    match protocol {
        WireProtocol::ChatCompletions => ("openai-chat", "openai"),
        WireProtocol::Responses => ("openai-responses", "openai"),
        WireProtocol::Messages => ("anthropic", "anthropic"),
        other => panic!("a protocol this test does not know: {other:?}"),
    }
}

/// Every corpus body: (label, protocol, bytes).
fn corpus() -> Vec<(String, WireProtocol, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sets: [(&str, PathBuf); 2] = [
        ("sse", root.join("tests/data/conformance")),
        ("real", root.join("tests/data/conformance/real")),
    ];
    let mut all = Vec::new();
    for (set, dir) in sets {
        for protocol in WireProtocol::ALL {
            let dir = dir.join(corpus_name(protocol).0);
            let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
                .filter_map(|entry| Some(entry.ok()?.path()))
                .filter(|path| path.extension().is_some_and(|e| e == "sse"))
                .collect();
            names.sort();
            for path in names {
                let label = format!("{set}/{}", path.display());
                all.push((label, protocol, std::fs::read(&path).unwrap()));
            }
        }
    }
    all
}

/// What a body decodes to.
#[derive(Debug, Clone, PartialEq)]
struct Decoded {
    parts: Vec<StreamPart>,
    error: Option<ModelError>,
}

impl Decoded {
    fn output(&self) -> ModelResponse {
        accumulate(&self.parts)
    }
}

fn accumulate(parts: &[StreamPart]) -> ModelResponse {
    let mut acc = ResponseAccumulator::new(ModelInfo::new("test", "requested"));
    for part in parts {
        acc.push(part);
    }
    acc.finish()
}

/// Decodes `chunks` as `protocol` from `provider`, read one chunk at a time.
fn decode<'a>(
    protocol: WireProtocol,
    provider: &str,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Decoded {
    let mut body = BodyDecoder::new(protocol.decoder(provider));
    let mut parts = Vec::new();
    for chunk in chunks {
        if let Err(err) = body.push_into(chunk, &mut parts) {
            return Decoded {
                parts,
                error: Some(err),
            };
        }
    }
    let error = body.finish_into(&mut parts).err();
    Decoded { parts, error }
}

/// Decodes an encoded stream as a client would read it, chunk by chunk. A
/// broken connection is the client's own transport error.
fn decode_stream(protocol: WireProtocol, provider: &str, stream: &EncodedStream) -> Decoded {
    match stream.end {
        StreamEnd::Close => decode(
            protocol,
            provider,
            stream.chunks.iter().map(|c| &c.bytes[..]),
        ),
        StreamEnd::Break => {
            let mut body = BodyDecoder::new(protocol.decoder(provider));
            let mut parts = Vec::new();
            for chunk in &stream.chunks {
                body.push_into(&chunk.bytes, &mut parts).unwrap();
            }
            body.broken_into(&mut parts);
            Decoded {
                parts,
                error: Some(ModelError::Transport {
                    provider: provider.to_owned(),
                    message: "connection broken".into(),
                }),
            }
        }
        _ => panic!("a stream end this test does not know"),
    }
}

/// The recorded parts, one millisecond apart.
fn recorded(parts: &[StreamPart]) -> Vec<RecordedPart> {
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| RecordedPart {
            offset_us: i as u64 * 1000,
            part: part.clone(),
        })
        .collect()
}

/// Every chunk is due at the offset of a recorded part, never earlier than
/// the one before it.
fn assert_offsets(label: &str, recording: &[RecordedPart], stream: &EncodedStream) {
    let offsets: Vec<u64> = recording.iter().map(|r| r.offset_us).collect();
    let mut last = 0;
    for chunk in &stream.chunks {
        assert!(
            offsets.contains(&chunk.offset_us) || (offsets.is_empty() && chunk.offset_us == 0),
            "{label}: chunk at {} is no part's offset",
            chunk.offset_us
        );
        assert!(chunk.offset_us >= last, "{label}: offsets go back");
        last = chunk.offset_us;
    }
}

/// The round trip of one recording through `protocol`: the content parts it
/// carries, in order, the accumulated output and the error come back.
fn assert_round_trip(
    label: &str,
    protocol: WireProtocol,
    provider: &str,
    original: &Decoded,
) -> Decoded {
    let recording = recorded(&original.parts);
    let stream = protocol.encode_stream(&recording, original.error.as_ref());
    assert_offsets(label, &recording, &stream);
    let again = decode_stream(protocol, provider, &stream);
    assert_eq!(
        protocol.content(&again.parts),
        protocol.content(&original.parts),
        "{label}: content parts"
    );
    assert_eq!(again.output(), original.output(), "{label}: output");
    match (&original.error, &again.error) {
        (Some(ModelError::Transport { .. }), Some(ModelError::Transport { .. })) => {}
        (want, got) => assert_eq!(got, want, "{label}: error"),
    }
    again
}

#[test]
fn every_corpus_body_decodes_encodes_and_decodes_to_exactly_the_same_parts() {
    let corpus = corpus();
    assert_eq!(corpus.len(), 53, "13 transcripts and 40 real bodies");
    let mut with_error = 0;
    for (label, protocol, body) in corpus {
        let provider = corpus_name(protocol).1;
        let original = decode(protocol, provider, [body.as_slice()]);
        with_error += usize::from(original.error.is_some());
        let again = assert_round_trip(&label, protocol, provider, &original);
        assert_eq!(
            again.parts, original.parts,
            "{label}: every part, framing included"
        );
        let output = original.output();
        assert_eq!(
            (output.finish_reason.clone(), output.usage),
            (again.output().finish_reason, again.output().usage),
            "{label}: finish and usage"
        );
    }
    assert!(
        with_error > 0,
        "the corpus holds streams that end in an error"
    );
}

#[test]
fn a_corpus_recording_served_in_another_protocol_keeps_its_answer() {
    for (label, from, body) in corpus() {
        let original = decode(from, corpus_name(from).1, [body.as_slice()]);
        for to in WireProtocol::ALL {
            let label = format!("{label} as {to:?}");
            let stream = to.encode_stream(&recorded(&original.parts), original.error.as_ref());
            let again = decode_stream(to, corpus_name(to).1, &stream);
            assert_eq!(
                to.content(&again.parts),
                to.content(&original.parts),
                "{label}"
            );
            let (want, got) = (original.output(), again.output());
            assert_eq!(
                (&got.text, &got.reasoning, &got.tool_calls),
                (&want.text, &want.reasoning, &want.tool_calls),
                "{label}"
            );
            let kind = |r: &ModelResponse| r.finish_reason.as_ref().map(|f| f.kind);
            // Responses names stop and tool calls alike (`completed`, told
            // apart by the calls made); `Other` reasons have no common word.
            if (from == to || original.error.is_none())
                && kind(&want) != Some(FinishKind::Other)
                && to != WireProtocol::Responses
            {
                assert_eq!(kind(&got), kind(&want), "{label}: finish kind");
            }
            assert_eq!(
                got.usage.map(|u| (u.input_tokens, u.output_tokens)),
                want.usage.map(|u| (u.input_tokens, u.output_tokens)),
                "{label}: token counts"
            );
            assert_eq!(
                again.error.is_some(),
                original.error.is_some(),
                "{label}: error"
            );
        }
    }
}

// ---- generated recordings ----

/// Text with what could break a body: line ends, SSE syntax, `[DONE]`,
/// quotes, escapes, non-ASCII, NUL.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ]{1,8}",
        "\\PC{1,12}",
        Just("\n\ndata: [DONE]\n\n".to_owned()),
        Just("\r\n\r\nevent: message_stop\r\n".to_owned()),
        Just("\"}]}\\u0000\u{0}é😀".to_owned()),
        Just(": ping".to_owned()),
    ]
}

fn content_part(protocol: WireProtocol) -> impl Strategy<Value = StreamPart> {
    let ids = prop_oneof![Just("call_a"), Just("call_b"), Just("toolu_01")];
    let part = prop_oneof![
        4 => hostile_text().prop_map(StreamPart::text),
        1 => hostile_text().prop_map(StreamPart::reasoning),
        1 => hostile_text().prop_map(|text| StreamPart::RefusalDelta { text }),
        1 => hostile_text().prop_map(|data| StreamPart::RedactedReasoning { data }),
        1 => (ids.clone(), "[a-z_]{1,8}").prop_map(|(id, name)| StreamPart::ToolCallStart { id: id.into(), name }),
        2 => (ids, prop_oneof!["[a-z\"{}:0-9]{1,8}", hostile_text()])
            .prop_map(|(id, arguments)| StreamPart::ToolCallDelta { id: id.into(), arguments }),
    ];
    part.prop_filter("a part the protocol carries", move |p| protocol.carries(p))
}

fn framing_part() -> impl Strategy<Value = StreamPart> {
    prop_oneof![
        Just(StreamPart::KeepAlive),
        Just(StreamPart::StreamStart),
        Just(StreamPart::RoleDelta {
            role: Role::Assistant
        }),
        Just(StreamPart::text("")),
        Just(StreamPart::reasoning("")),
    ]
}

/// Counts a protocol has fields for, `u64::MAX` included.
fn usage(protocol: WireProtocol) -> impl Strategy<Value = Usage> {
    let count = prop_oneof![3 => 0u64..5000, 1 => Just(u64::MAX)];
    (
        count.clone(),
        count.clone(),
        0u64..500,
        0u64..500,
        any::<bool>(),
    )
        .prop_map(move |(input, output, a, b, details)| match protocol {
            WireProtocol::Messages => Usage {
                input_tokens: input.saturating_add(a).saturating_add(b),
                output_tokens: output,
                cached_input_tokens: Some(a),
                cache_creation_input_tokens: Some(b),
                reasoning_tokens: None,
            },
            _ => Usage {
                input_tokens: input.saturating_add(a),
                output_tokens: output,
                cached_input_tokens: details.then_some(a),
                cache_creation_input_tokens: None,
                reasoning_tokens: details.then_some(b),
            },
        })
}

/// A finish reason as `protocol`'s decoder reports it (`calls`: whether the
/// stream called tools, which Responses reports with `completed`).
fn finish_reason(protocol: WireProtocol, calls: bool, pick: usize) -> FinishReason {
    let options: &[(FinishKind, &str)] = match protocol {
        WireProtocol::ChatCompletions => &[
            (FinishKind::Stop, "stop"),
            (FinishKind::Length, "length"),
            (FinishKind::ToolCalls, "tool_calls"),
            (FinishKind::ContentFilter, "content_filter"),
            (FinishKind::Other, "eos"),
            (FinishKind::Other, ""),
        ],
        WireProtocol::Messages => &[
            (FinishKind::Stop, "end_turn"),
            (FinishKind::Length, "max_tokens"),
            (FinishKind::ToolCalls, "tool_use"),
            (FinishKind::ContentFilter, "refusal"),
            (FinishKind::Other, "pause_turn"),
            (FinishKind::Other, ""),
        ],
        _ => &[
            (
                if calls {
                    FinishKind::ToolCalls
                } else {
                    FinishKind::Stop
                },
                "completed",
            ),
            (FinishKind::Length, "max_output_tokens"),
            (FinishKind::ContentFilter, "content_filter"),
            (FinishKind::Other, "incomplete"),
        ],
    };
    let (kind, raw) = options[pick % options.len()];
    FinishReason::new(kind, raw)
}

/// How a generated stream ends.
#[derive(Debug, Clone)]
enum Ending {
    Finish,
    ProviderError {
        finish_first: bool,
        kind: String,
        message: String,
    },
    Truncated {
        finish_first: bool,
    },
    Broken,
}

fn ending() -> impl Strategy<Value = Ending> {
    prop_oneof![
        4 => Just(Ending::Finish),
        2 => (any::<bool>(), prop_oneof![Just("overloaded_error".to_owned()), Just("server_error".to_owned()), Just("error".to_owned()), "[a-z_]{1,12}"], hostile_text())
            .prop_map(|(finish_first, kind, message)| Ending::ProviderError { finish_first, kind, message }),
        1 => any::<bool>().prop_map(|finish_first| Ending::Truncated { finish_first }),
        1 => Just(Ending::Broken),
    ]
}

/// A recording of `protocol`: metadata, content and framing, usage, and an
/// ending, as that protocol's decoder would have produced it.
fn recording(protocol: WireProtocol) -> impl Strategy<Value = Decoded> {
    let provider = corpus_name(protocol).1;
    (
        any::<bool>(),
        prop::collection::vec(
            prop_oneof![4 => content_part(protocol), 1 => framing_part()],
            0..14,
        ),
        prop::option::of(usage(protocol)),
        0usize..8,
        ending(),
    )
        .prop_map(move |(metadata, body, usage, pick, ending)| {
            let mut parts = Vec::new();
            if metadata {
                parts.push(StreamPart::ResponseMetadata {
                    id: Some("resp_01".into()),
                    model: Some("model-2026".into()),
                });
                parts.push(StreamPart::RoleDelta {
                    role: Role::Assistant,
                });
            }
            parts.extend(body);
            let calls = parts.iter().any(|p| {
                matches!(
                    p,
                    StreamPart::ToolCallStart { .. } | StreamPart::ToolCallDelta { .. }
                )
            });
            let responses = protocol == WireProtocol::Responses;
            let finish = |reason: FinishReason| StreamPart::Finish { reason, usage };
            let mut error = None;
            match ending {
                Ending::Finish => {
                    if let Some(usage) = usage {
                        parts.push(StreamPart::Usage { usage });
                    }
                    parts.push(finish(finish_reason(protocol, calls, pick)));
                }
                Ending::ProviderError {
                    finish_first,
                    kind,
                    message,
                } => {
                    if finish_first {
                        if let Some(usage) = usage {
                            parts.push(StreamPart::Usage { usage });
                        }
                        parts.push(finish(if responses {
                            FinishReason::new(FinishKind::Error, "failed")
                        } else {
                            finish_reason(protocol, calls, pick)
                        }));
                    } else if let (Some(usage), false) = (usage, responses) {
                        parts.push(StreamPart::Usage { usage });
                    }
                    error = Some(ModelError::Provider {
                        provider: provider.into(),
                        kind,
                        message,
                    });
                }
                Ending::Truncated { finish_first } => {
                    if finish_first && !responses {
                        if let Some(usage) = usage {
                            parts.push(StreamPart::Usage { usage });
                        }
                        parts.push(finish(finish_reason(protocol, calls, pick)));
                    }
                    let mut held = Vec::new();
                    error = protocol.decoder(provider).end_of_body(&mut held).err();
                }
                Ending::Broken => {
                    error = Some(ModelError::Transport {
                        provider: provider.into(),
                        message: "reset".into(),
                    });
                }
            }
            // A finish with no reason before an error is no finish at all:
            // only Chat Completions' and Messages' decoders hold a reason.
            if error.is_some() {
                parts.retain(
                    |p| !matches!(p, StreamPart::Finish { reason, .. } if reason.raw.is_empty()),
                );
            }
            Decoded { parts, error }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn generated_recordings_round_trip_through_chat_completions(r in recording(WireProtocol::ChatCompletions)) {
        assert_round_trip("chat", WireProtocol::ChatCompletions, "openai", &r);
    }

    #[test]
    fn generated_recordings_round_trip_through_responses(r in recording(WireProtocol::Responses)) {
        assert_round_trip("responses", WireProtocol::Responses, "openai", &r);
    }

    #[test]
    fn generated_recordings_round_trip_through_messages(r in recording(WireProtocol::Messages)) {
        assert_round_trip("messages", WireProtocol::Messages, "anthropic", &r);
    }

    /// Any parts at all, in any order, with any error: every protocol
    /// writes a body without panicking, and decoding it never panics either.
    #[test]
    fn any_parts_and_error_encode_without_panicking(
        parts in prop::collection::vec(prop_oneof![
            tracedeck::testing::strategies::stream_part(),
            content_part(WireProtocol::Messages),
            content_part(WireProtocol::ChatCompletions),
            (0u32..3).prop_map(|index| StreamPart::BlockStart { index }),
            Just(StreamPart::BlockStart { index: u32::MAX }),
            Just(StreamPart::Finish { reason: FinishReason::new(FinishKind::Error, "\n\n"), usage: Some(Usage { input_tokens: u64::MAX, output_tokens: u64::MAX, cached_input_tokens: Some(u64::MAX), cache_creation_input_tokens: Some(u64::MAX), reasoning_tokens: Some(u64::MAX) }) }),
        ], 0..20),
        error in prop::option::of(prop_oneof![
            Just(ModelError::other("x\n\ny")),
            Just(ModelError::Http { provider: "p".into(), status: 0, message: "\r\n".into(), retry_after_ms: Some(u64::MAX) }),
            Just(ModelError::Decode { provider: "p".into(), message: "bad".into() }),
            Just(ModelError::CassetteMiss { key: "k".into(), detail: "d".into() }),
            Just(ModelError::Config { message: "c".into() }),
        ]),
    ) {
        for protocol in WireProtocol::ALL {
            let stream = protocol.encode_stream(&recorded(&parts), error.as_ref());
            let again = decode_stream(protocol, "p", &stream);
            prop_assert_eq!(again.error.is_some(), error.is_some());
            let response = protocol.encode_error(error.as_ref().unwrap_or(&ModelError::other("")));
            prop_assert!((200..=599).contains(&response.status));
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&response.body).is_ok());
            let answer = protocol.encode_response(&accumulate(&parts));
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&answer.body).is_ok());
        }
    }
}

#[test]
fn an_empty_recording_is_just_the_end_marker_and_an_empty_error_stream_just_the_error() {
    for protocol in WireProtocol::ALL {
        let (_, provider) = corpus_name(protocol);
        let stream = protocol.encode_stream(&[], None);
        let decoded = decode_stream(protocol, provider, &stream);
        assert_eq!(decoded.error, None, "{protocol:?}");
        assert!(
            matches!(decoded.parts.last(), Some(StreamPart::Finish { .. })),
            "{protocol:?}: {decoded:?}"
        );
        let error = ModelError::Provider {
            provider: provider.into(),
            kind: "overloaded_error".into(),
            message: "Overloaded".into(),
        };
        let stream = protocol.encode_stream(&[], Some(&error));
        let decoded = decode_stream(protocol, provider, &stream);
        assert_eq!(
            decoded,
            Decoded {
                parts: vec![],
                error: Some(error)
            },
            "{protocol:?}"
        );
    }
}

// ---- non-streamed answers and HTTP errors, through the real adapters ----

fn adapter(protocol: WireProtocol, server: &SseServer) -> Box<dyn Model> {
    match protocol {
        WireProtocol::ChatCompletions => Box::new(
            OpenAi::new("m")
                .api_key("sk-test")
                .base_url(format!("{}/v1", server.url())),
        ),
        WireProtocol::Responses => Box::new(
            OpenAiResponses::new("m")
                .api_key("sk-test")
                .base_url(format!("{}/v1", server.url())),
        ),
        _ => Box::new(
            Anthropic::new("m")
                .api_key("sk-test")
                .base_url(server.url()),
        ),
    }
}

/// Serves `encoded` once and returns what the protocol's adapter makes of it.
async fn served(
    protocol: WireProtocol,
    encoded: &tracedeck::providers::codec::WireResponse,
) -> Result<ModelResponse, ModelError> {
    let reply = encoded.headers.iter().fold(
        Reply::status(encoded.status).header("content-type", "application/json"),
        |reply, (name, value)| reply.header(*name, value.clone()),
    );
    let server = SseServer::serve(reply.chunk(encoded.body.clone()))
        .await
        .unwrap();
    let result = adapter(protocol, &server)
        .generate(ModelRequest::new("m").user("hi"))
        .await;
    assert_eq!(server.requests()[0].path, protocol.path());
    result
}

fn answers(protocol: WireProtocol) -> Vec<ModelResponse> {
    let provider = corpus_name(protocol).1;
    let model = ModelInfo::new(provider, "model-2026");
    let finish = finish_reason(protocol, false, 0);
    let mut plain = ModelResponse::text(model.clone(), "Hello\n\ndata: [DONE]\n\n\"}é😀");
    plain.finish_reason = Some(finish);
    plain.usage = Some(Usage::new(12, 3));
    let full = ModelResponse {
        text: "Checking.".into(),
        reasoning: "Let me see.".into(),
        refusal: if protocol == WireProtocol::Messages {
            String::new()
        } else {
            "partly".into()
        },
        tool_calls: vec![
            ToolCall {
                id: "call_a".into(),
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"}),
            },
            ToolCall {
                id: "call_b".into(),
                name: "broken".into(),
                arguments: json!("{\"q\": tru"),
            },
            ToolCall {
                id: "call_c".into(),
                name: "none".into(),
                arguments: json!({}),
            },
        ],
        usage: Some(Usage {
            input_tokens: u64::MAX,
            output_tokens: u64::MAX,
            cached_input_tokens: Some(7),
            cache_creation_input_tokens: (protocol == WireProtocol::Messages).then_some(5),
            reasoning_tokens: (protocol != WireProtocol::Messages).then_some(2),
        }),
        finish_reason: Some(finish_reason(
            protocol,
            true,
            if protocol == WireProtocol::Responses {
                0
            } else {
                2
            },
        )),
        model: model.clone(),
    };
    let mut cut = ModelResponse::text(model, "cut");
    cut.finish_reason = Some(finish_reason(protocol, false, 1));
    vec![plain, full, cut]
}

#[tokio::test]
async fn non_streamed_answers_read_back_through_each_adapter_as_the_same_response() {
    for protocol in WireProtocol::ALL {
        for answer in answers(protocol) {
            let encoded = protocol.encode_response(&answer);
            assert_eq!(encoded.status, 200);
            let back = served(protocol, &encoded)
                .await
                .unwrap_or_else(|e| panic!("{protocol:?}: {e}"));
            assert_eq!(back, answer, "{protocol:?}");
        }
    }
}

#[tokio::test]
async fn http_errors_read_back_with_their_status_message_and_retry_delay() {
    for protocol in WireProtocol::ALL {
        let provider = corpus_name(protocol).1;
        for (status, retry) in [(429, Some(1500)), (529, None), (400, None), (503, Some(20))] {
            let error = ModelError::Http {
                provider: provider.into(),
                status,
                message: format!("Overloaded \"now\"\n{status}"),
                retry_after_ms: retry,
            };
            let encoded = protocol.encode_error(&error);
            assert_eq!(encoded.status, status);
            let back = served(protocol, &encoded).await.unwrap_err();
            assert_eq!(back, error, "{protocol:?}");
        }
        // An error body in a 200 answer is the provider's error.
        let error = ModelError::Provider {
            provider: provider.into(),
            kind: "invalid_request_error".into(),
            message: "bad".into(),
        };
        let back = served(protocol, &protocol.encode_error(&error))
            .await
            .unwrap_err();
        assert_eq!(back, error, "{protocol:?}");
    }
}

/// A whole recorded stream served at its offsets over loopback and read by
/// the protocol's real adapter on a paused clock: the same parts, in order,
/// and every content part arriving exactly at its recorded offset (framing
/// rides in the chunk of the event that carries it).
#[tokio::test(start_paused = true)]
async fn a_stream_served_at_its_recorded_offsets_reaches_the_adapter_at_those_times() {
    for (label, protocol, body) in corpus()
        .into_iter()
        .filter(|(l, _, _)| l.starts_with("sse/"))
    {
        let provider = corpus_name(protocol).1;
        let original = decode(protocol, provider, [body.as_slice()]);
        let recording: Vec<RecordedPart> = original
            .parts
            .iter()
            .enumerate()
            .map(|(i, part)| RecordedPart {
                offset_us: 5_000 + i as u64 * 7_000,
                part: part.clone(),
            })
            .collect();
        let stream = protocol.encode_stream(&recording, original.error.as_ref());
        let mut reply = Reply::sse();
        let mut last = 0;
        for chunk in &stream.chunks {
            reply = reply.chunk_after(
                Duration::from_micros(chunk.offset_us - last),
                chunk.bytes.clone(),
            );
            last = chunk.offset_us;
        }
        let server = SseServer::serve(reply).await.unwrap();
        let model = adapter(protocol, &server);
        let start = tokio::time::Instant::now();
        let mut parts = model
            .stream(ModelRequest::new("m").user("hi"))
            .await
            .unwrap();
        let mut got = Vec::new();
        while let Some(part) = parts.next().await {
            let Ok(part) = part else { break };
            got.push(RecordedPart {
                offset_us: start.elapsed().as_micros() as u64,
                part,
            });
        }
        let got_parts: Vec<StreamPart> = got.iter().map(|r| r.part.clone()).collect();
        assert_eq!(got_parts, original.parts, "{label}");
        for (got, want) in got.iter().zip(&recording) {
            if want.part.is_content() {
                assert_eq!(got.offset_us, want.offset_us, "{label}: {:?}", want.part);
            }
        }
    }
}

#[test]
fn encode_call_serves_http_errors_as_responses_and_streams_as_bodies() {
    use tracedeck::span::{Span, SpanId, SpanKind, SpanStatus, Timing};
    let mut span = Span {
        id: SpanId(1),
        parent: Some(SpanId(0)),
        key: "chat".into(),
        kind: SpanKind::Llm,
        status: SpanStatus::Error,
        timing: Timing::default(),
        input: json!({}).into(),
        output: None,
        model: None,
        streamed: true,
        parts: Vec::new(),
        error: Some(ModelError::Http {
            provider: "openai".into(),
            status: 429,
            message: "slow".into(),
            retry_after_ms: None,
        }),
    };
    let protocol = WireProtocol::ChatCompletions;
    assert!(matches!(protocol.encode_call(&span), Ok(EncodedCall::Response(r)) if r.status == 429));
    span.error = None;
    span.status = SpanStatus::Ok;
    span.parts = recorded(&[
        StreamPart::text("hi"),
        StreamPart::finish(FinishReason::stop()),
    ]);
    let Ok(EncodedCall::Stream(stream)) = protocol.encode_call(&span) else {
        panic!()
    };
    let decoded = decode_stream(protocol, "openai", &stream);
    assert_eq!(
        decoded.parts,
        span.parts
            .iter()
            .map(|r| r.part.clone())
            .collect::<Vec<_>>()
    );
    span.streamed = false;
    span.output = Some(
        serde_json::to_value(ModelResponse::text(ModelInfo::new("openai", "m"), "hi"))
            .unwrap()
            .into(),
    );
    assert!(matches!(protocol.encode_call(&span), Ok(EncodedCall::Response(r)) if r.status == 200));
    span.output = None;
    assert!(protocol.encode_call(&span).is_err());
    span.kind = SpanKind::Task;
    assert!(protocol.encode_call(&span).is_err());
}

/// Tool call arguments as the accumulator makes them: JSON values, or the
/// raw text of arguments that were not JSON.
fn arguments() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(json!({})),
        (hostile_text(), any::<i64>())
            .prop_map(|(k, v)| json!({ k: v, "nested": [v, null, true] })),
        hostile_text()
            .prop_filter("not JSON, not blank", |raw| {
                !raw.trim().is_empty() && serde_json::from_str::<serde_json::Value>(raw).is_err()
            })
            .prop_map(serde_json::Value::String),
    ]
}

/// A whole answer `protocol` can express, as its adapter reports it.
fn answer(protocol: WireProtocol) -> impl Strategy<Value = ModelResponse> {
    let provider = corpus_name(protocol).1;
    let text = prop_oneof![Just(String::new()), hostile_text()];
    (
        (text.clone(), text.clone(), text),
        prop::collection::vec(
            (
                prop_oneof![Just("call_a"), Just("toolu_01")],
                "[a-z_]{1,8}",
                arguments(),
            ),
            0..3,
        ),
        prop::option::of(usage(protocol)),
        0usize..8,
        "[A-Za-z0-9.:/-]{1,20}",
    )
        .prop_map(
            move |((text, reasoning, refusal), calls, usage, pick, model)| {
                let tool_calls: Vec<ToolCall> = calls
                    .into_iter()
                    .map(|(id, name, arguments)| ToolCall {
                        id: id.into(),
                        name,
                        arguments,
                    })
                    .collect();
                ModelResponse {
                    text,
                    reasoning,
                    refusal: if protocol == WireProtocol::Messages {
                        String::new()
                    } else {
                        refusal
                    },
                    finish_reason: Some(finish_reason(protocol, !tool_calls.is_empty(), pick)),
                    tool_calls,
                    usage,
                    model: ModelInfo::new(provider, model),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Generated answers, served as JSON over loopback, read back through
    /// each protocol's adapter (and so its response parser) unchanged.
    #[test]
    fn generated_answers_read_back_through_each_adapter_unchanged(
        chat in answer(WireProtocol::ChatCompletions),
        responses in answer(WireProtocol::Responses),
        messages in answer(WireProtocol::Messages),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for (protocol, answer) in [
            (WireProtocol::ChatCompletions, chat),
            (WireProtocol::Responses, responses),
            (WireProtocol::Messages, messages),
        ] {
            let back = runtime.block_on(served(protocol, &protocol.encode_response(&answer)));
            prop_assert_eq!(back, Ok(answer), "{:?}", protocol);
        }
    }
}
