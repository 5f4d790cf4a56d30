//! The streaming conformance corpus (tests/data/conformance, copied from
//! shared/conformance): 13 real transcripts of three wire protocols, each
//! with the result a correct client derives from it.
//!
//! Shown here:
//! - each transcript, decoded event by event, gives its expect (text,
//!   reasoning, tool calls, finish string, usage) and its first content part
//!   comes from event `first_content_event`;
//! - served by the loopback server one event per network chunk, each adapter
//!   yields exactly those parts, in that order, and its recorded TTFT is
//!   stamped on that event's part;
//! - cut into reads at every byte boundary, one byte per read, CRLF line
//!   ends, or random cuts (proptest), the body decodes to the same parts.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use proptest::prelude::*;
use serde_json::Value;
use tracedeck::model::{ModelInfo, ResponseAccumulator};
use tracedeck::providers::anthropic::MessagesStreamDecoder;
use tracedeck::providers::openai_chat::ChatStreamDecoder;
use tracedeck::providers::openai_responses::ResponsesStreamDecoder;
use tracedeck::providers::sse::{SseDecoder, SseFrame};
use tracedeck::providers::{Anthropic, BodyDecoder, OpenAi, OpenAiResponses, ProtocolDecoder};
use tracedeck::testing::{Reply, SseServer};
use tracedeck::{Collector, Model, ModelRequest, Recorder, StreamPart, with_span};

#[derive(Debug, Clone)]
struct Transcript {
    protocol: String,
    name: String,
    body: Vec<u8>,
    expect: Value,
}

impl Transcript {
    fn label(&self) -> String {
        format!("{}/{}", self.protocol, self.name)
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance")
}

fn transcripts() -> Vec<Transcript> {
    let mut all = Vec::new();
    for protocol in ["openai-chat", "anthropic", "openai-responses"] {
        let dir = corpus_dir().join(protocol);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".sse").map(str::to_owned)
            })
            .collect();
        names.sort();
        for name in names {
            let body = std::fs::read(dir.join(format!("{name}.sse"))).unwrap();
            let expect_text =
                std::fs::read_to_string(dir.join(format!("{name}.expect.json"))).unwrap();
            all.push(Transcript {
                protocol: protocol.to_owned(),
                name,
                body,
                expect: serde_json::from_str(&expect_text).unwrap(),
            });
        }
    }
    all
}

fn decoder(protocol: &str) -> Box<dyn ProtocolDecoder> {
    match protocol {
        "openai-chat" => Box::new(ChatStreamDecoder::new("openai")),
        "anthropic" => Box::new(MessagesStreamDecoder::new("anthropic")),
        "openai-responses" => Box::new(ResponsesStreamDecoder::new("openai")),
        other => panic!("unknown protocol {other}"),
    }
}

/// Every part of a transcript, tagged with the index of the event it came from.
fn parts_by_event(t: &Transcript) -> Vec<(usize, StreamPart)> {
    let mut sse = SseDecoder::new();
    let frames = sse.push(&t.body).unwrap();
    let events: Vec<_> = frames
        .into_iter()
        .filter_map(|f| match f {
            SseFrame::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(
        events.len() as u64,
        t.expect["sse_events"].as_u64().unwrap(),
        "{}: event count",
        t.label()
    );
    let mut protocol = decoder(&t.protocol);
    let mut tagged = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let mut out = Vec::new();
        protocol
            .decode(event, &mut out)
            .unwrap_or_else(|e| panic!("{}: event {index}: {e}", t.label()));
        tagged.extend(out.into_iter().map(|p| (index, p)));
    }
    protocol
        .end_of_body()
        .unwrap_or_else(|e| panic!("{}: {e}", t.label()));
    tagged
}

/// The transcript's parts, decoded from the whole body at once.
fn reference_parts(t: &Transcript) -> Vec<StreamPart> {
    decode_chunks(t, [t.body.as_slice()])
}

fn decode_chunks<'a>(
    t: &Transcript,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<StreamPart> {
    let mut body = BodyDecoder::new(decoder(&t.protocol));
    let mut parts = Vec::new();
    for chunk in chunks {
        body.push_into(chunk, &mut parts)
            .unwrap_or_else(|e| panic!("{}: {e}", t.label()));
    }
    parts.extend(
        body.finish()
            .unwrap_or_else(|e| panic!("{}: {e}", t.label())),
    );
    parts
}

/// The input tokens as the stream reported them. Anthropic reports prompt
/// tokens read from or written to its cache apart from `input_tokens`; the
/// adapters add them back so `Usage::input_tokens` counts every prompt token,
/// and keep them in their own fields, so the reported number is recovered here.
fn reported_input_tokens(protocol: &str, usage: &tracedeck::model::Usage) -> u64 {
    if protocol == "anthropic" {
        usage.input_tokens
            - usage.cached_input_tokens.unwrap_or(0)
            - usage.cache_creation_input_tokens.unwrap_or(0)
    } else {
        usage.input_tokens
    }
}

/// Checks what `parts` add up to against the transcript's expect.
fn assert_matches_expect(t: &Transcript, parts: &[StreamPart]) {
    let label = t.label();
    let finishes = parts
        .iter()
        .filter(|p| matches!(p, StreamPart::Finish { .. }))
        .count();
    assert_eq!(finishes, 1, "{label}: exactly one Finish");
    assert!(
        matches!(parts.last(), Some(StreamPart::Finish { .. })),
        "{label}: Finish is the last part"
    );
    let mut acc = ResponseAccumulator::new(ModelInfo::new("test", "test"));
    for part in parts {
        acc.push(part);
    }
    let response = acc.finish();
    let e = &t.expect;
    assert_eq!(response.text, e["text"].as_str().unwrap(), "{label}: text");
    assert_eq!(
        response.reasoning,
        e["reasoning"].as_str().unwrap(),
        "{label}: reasoning"
    );
    let calls: Vec<Value> = response
        .tool_calls
        .iter()
        .map(|c| serde_json::json!({"name": c.name, "arguments": c.arguments}))
        .collect();
    assert_eq!(Value::Array(calls), e["tool_calls"], "{label}: tool calls");
    assert!(
        response.tool_calls.iter().all(|c| !c.id.is_empty()),
        "{label}: every tool call has an id"
    );
    let finish = response.finish_reason.expect("a finish reason");
    assert_eq!(
        finish.raw,
        e["finish_reason"].as_str().unwrap(),
        "{label}: finish raw"
    );
    let usage = response.usage.map(|u| {
        serde_json::json!({
            "input_tokens": reported_input_tokens(&t.protocol, &u),
            "output_tokens": u.output_tokens
        })
    });
    assert_eq!(usage.unwrap_or(Value::Null), e["usage"], "{label}: usage");
    // The Finish carries the final usage itself.
    if let Some(StreamPart::Finish { usage, .. }) = parts.last() {
        assert_eq!(*usage, response.usage, "{label}: usage on the Finish");
    }
}

#[test]
fn the_corpus_holds_thirteen_transcripts_of_three_protocols() {
    let all = transcripts();
    assert_eq!(all.len(), 13);
    for protocol in ["openai-chat", "anthropic", "openai-responses"] {
        assert!(all.iter().any(|t| t.protocol == protocol), "{protocol}");
    }
}

#[test]
fn each_transcript_decoded_event_by_event_gives_its_expect_and_first_content_event() {
    for t in transcripts() {
        let tagged = parts_by_event(&t);
        let first_content = tagged
            .iter()
            .find(|(_, p)| p.is_content())
            .map(|(i, _)| *i as u64);
        assert_eq!(
            first_content,
            t.expect["first_content_event"].as_u64(),
            "{}: first content event",
            t.label()
        );
        // Framing before it: every earlier part is framing, and there is some.
        let parts: Vec<StreamPart> = tagged.into_iter().map(|(_, p)| p).collect();
        assert_matches_expect(&t, &parts);
        assert_eq!(
            parts,
            reference_parts(&t),
            "{}: same as whole-body decoding",
            t.label()
        );
    }
}

/// An adapter of the transcript's protocol, pointed at `server`.
fn adapter(protocol: &str, server: &SseServer) -> (Box<dyn Model>, &'static str) {
    match protocol {
        "openai-chat" => (
            Box::new(
                OpenAi::new("m")
                    .api_key("sk-test")
                    .base_url(format!("{}/v1", server.url())),
            ),
            "/v1/chat/completions",
        ),
        "openai-responses" => (
            Box::new(
                OpenAiResponses::new("m")
                    .api_key("sk-test")
                    .base_url(format!("{}/v1", server.url())),
            ),
            "/v1/responses",
        ),
        "anthropic" => (
            Box::new(
                Anthropic::new("m")
                    .api_key("sk-test")
                    .base_url(server.url()),
            ),
            "/v1/messages",
        ),
        other => panic!("unknown protocol {other}"),
    }
}

#[tokio::test]
async fn each_transcript_served_over_http_one_event_per_read_yields_the_same_parts() {
    for t in transcripts() {
        let server = SseServer::serve(Reply::sse_events(&t.body)).await.unwrap();
        let (model, path) = adapter(&t.protocol, &server);
        let mut stream = model
            .stream(ModelRequest::new("m").user("hi"))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", t.label()));
        let mut parts = Vec::new();
        while let Some(part) = stream.next().await {
            parts.push(part.unwrap_or_else(|e| panic!("{}: {e}", t.label())));
        }
        let by_event: Vec<StreamPart> = parts_by_event(&t).into_iter().map(|(_, p)| p).collect();
        assert_eq!(parts, by_event, "{}: parts over HTTP", t.label());
        assert_matches_expect(&t, &parts);
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].path, path);
        assert_eq!(requests[0].body_json().unwrap()["stream"], true);
    }
}

/// Over real HTTP with one event per 5 ms, the recorder's TTFT is stamped on
/// the part of event `first_content_event`: it is the offset of exactly that
/// part, and every part recorded before it came from earlier events.
#[tokio::test]
async fn through_a_recorder_ttft_is_the_arrival_of_the_first_content_event() {
    for t in transcripts() {
        let chunks = Reply::event_chunks(&t.body);
        let reply = chunks.into_iter().fold(Reply::sse(), |r, c| {
            r.chunk_after(std::time::Duration::from_millis(5), c)
        });
        let server = SseServer::serve(reply).await.unwrap();
        let (model, _) = adapter(&t.protocol, &server);
        let traces = Collector::new();
        let model = Recorder::new(model, traces.clone());
        with_span("conformance", t.label(), async {
            let mut stream = model
                .stream(ModelRequest::new("m").user("hi"))
                .await
                .unwrap();
            while let Some(part) = stream.next().await {
                part.unwrap();
            }
        })
        .await;
        let trace = &traces.traces()[0];
        let call = trace.llm_spans().next().unwrap();
        let tagged = parts_by_event(&t);
        let first = tagged.iter().position(|(_, p)| p.is_content()).unwrap();
        assert_eq!(call.parts.len(), tagged.len(), "{}", t.label());
        assert_eq!(
            call.timing.ttft_us,
            Some(call.parts[first].offset_us),
            "{}: ttft is the first content part's arrival",
            t.label()
        );
        let first_event = t.expect["first_content_event"].as_u64().unwrap() as usize;
        assert_eq!(tagged[first].0, first_event, "{}", t.label());
        assert!(
            tagged[..first]
                .iter()
                .all(|(i, p)| *i <= first_event && !p.is_content()),
            "{}: only framing before it",
            t.label()
        );
    }
}

/// Every byte boundary, as two reads. The protocol decoders only ever see
/// whole events, so what a cut can change is what the event-stream reader
/// makes of the bytes: for every cut it must yield exactly the frames of the
/// whole body, in order. (Decoding a whole body to parts at every cut would
/// parse each transcript's JSON once per byte — minutes in a debug build; the
/// part-level checks below cut at every byte at once, at every CR, and at
/// random places.)
#[test]
fn each_transcript_cut_into_two_reads_at_every_byte_boundary_gives_the_same_events() {
    for t in transcripts() {
        let reference = SseDecoder::new().push(&t.body).unwrap();
        let mut frames = Vec::with_capacity(reference.len());
        for cut in 0..=t.body.len() {
            let mut sse = SseDecoder::new();
            frames.clear();
            sse.push_into(&t.body[..cut], &mut frames).unwrap();
            sse.push_into(&t.body[cut..], &mut frames).unwrap();
            assert!(frames == reference, "{}: cut at byte {cut}", t.label());
            assert!(!sse.has_partial_event(), "{}: cut at byte {cut}", t.label());
        }
    }
}

#[test]
fn each_transcript_read_one_byte_at_a_time_gives_the_same_parts() {
    for t in transcripts() {
        let parts = decode_chunks(&t, t.body.chunks(1));
        assert_eq!(parts, reference_parts(&t), "{}", t.label());
    }
}

#[test]
fn each_transcript_with_crlf_line_ends_gives_the_same_parts() {
    for t in transcripts() {
        let text = String::from_utf8(t.body.clone()).unwrap();
        let crlf = Transcript {
            body: text.replace('\n', "\r\n").into_bytes(),
            ..t.clone()
        };
        assert_eq!(reference_parts(&crlf), reference_parts(&t), "{}", t.label());
        // Cut between a CR and its LF everywhere at once.
        let parts = decode_chunks(&crlf, crlf.body.split_inclusive(|b| *b == b'\r'));
        assert_eq!(
            parts,
            reference_parts(&t),
            "{}: split after every CR",
            t.label()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn each_transcript_cut_at_random_places_gives_the_same_parts(
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        for t in transcripts() {
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(t.body.len() + 1)).collect();
            at.push(0);
            at.push(t.body.len());
            at.sort_unstable();
            let chunks = at.windows(2).map(|w| &t.body[w[0]..w[1]]);
            prop_assert_eq!(decode_chunks(&t, chunks), reference_parts(&t), "{}", t.label());
        }
    }
}
