//! The streaming conformance corpus: 13 transcripts in tests/data/conformance
//! (copied from shared/conformance/sse) and the 40 bodies captured from live
//! APIs in tests/data/conformance/real (copied from shared/conformance/real,
//! so the suite runs from a plain clone), each with the result a correct
//! client derives from it.
//!
//! Shown here, for all 53:
//! - each body, decoded event by event, gives its expect (text, reasoning,
//!   tool calls, finish string, usage, error) and its first content part
//!   comes from event `first_content_event`;
//! - served by the loopback server one event per network chunk, each adapter
//!   yields exactly those parts, in that order, then the same error, and its
//!   recorded TTFT is stamped on that event's part;
//! - cut into reads at every byte boundary, one byte per read, CRLF line
//!   ends, or random cuts (proptest), the body decodes to the same parts.
//!
//! # Where tracedeck's normalized figures differ from the raw expect
//!
//! The expect files hold what the provider sent; tracedeck normalizes some
//! of it on purpose. The comparisons below convert deliberately, each in one
//! named place:
//! - **Anthropic input tokens** ([`reported_input_tokens`]): tracedeck's
//!   `Usage::input_tokens` counts every prompt token, so it adds Anthropic's
//!   `cache_read_input_tokens` and `cache_creation_input_tokens` (which
//!   Anthropic reports apart) to its `input_tokens`, and keeps them in
//!   `cached_input_tokens` / `cache_creation_input_tokens`. The expect holds
//!   the raw figure, recovered here by subtracting them.
//! - **No finish reason** ([`assert_finish`]): a stream that completes always
//!   ends in one `Finish` part; when the provider never sent a finish reason
//!   (expect `null`), its reason is kind `Other` with raw string `""`. A
//!   stream that ends in an error has a `Finish` only if the provider sent a
//!   finish reason before the error.
//! - **Error codes** ([`error_code_kept`]): `ModelError::Provider::kind` is the
//!   error's `type` where it has one (the class, e.g. `invalid_request_error`)
//!   and its `code` otherwise; a code beside a different type, which the
//!   expect names (`tool_use_failed`), is kept at the end of the message as
//!   `(code: …)`. `truncated` is `ModelError::Truncated`.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use proptest::prelude::*;
use serde_json::Value;
use tracedeck::model::{FinishKind, ModelInfo, ResponseAccumulator};
use tracedeck::providers::anthropic::MessagesStreamDecoder;
use tracedeck::providers::openai_chat::ChatStreamDecoder;
use tracedeck::providers::openai_responses::ResponsesStreamDecoder;
use tracedeck::providers::sse::{SseDecoder, SseFrame};
use tracedeck::providers::{Anthropic, BodyDecoder, OpenAi, OpenAiResponses, ProtocolDecoder};
use tracedeck::span::SpanStatus;
use tracedeck::testing::{Reply, SseServer};
use tracedeck::{Collector, Model, ModelError, ModelRequest, Recorder, StreamPart, with_span};

#[derive(Debug, Clone)]
struct Transcript {
    /// `sse` (the project's copy) or `real` (the live-API bodies).
    set: &'static str,
    protocol: String,
    name: String,
    body: Vec<u8>,
    expect: Value,
}

impl Transcript {
    fn label(&self) -> String {
        format!("{}/{}/{}", self.set, self.protocol, self.name)
    }
}

const PROTOCOLS: [&str; 3] = ["openai-chat", "anthropic", "openai-responses"];

/// The project's copy of `shared/conformance/sse`.
fn sse_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance")
}

/// The project's copy of `shared/conformance/real`: the live-API bodies.
fn real_dir() -> PathBuf {
    sse_dir().join("real")
}

fn load(set: &'static str, root: &Path) -> Vec<Transcript> {
    let mut all = Vec::new();
    for protocol in PROTOCOLS {
        let dir = root.join(protocol);
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
                set,
                protocol: protocol.to_owned(),
                name,
                body,
                expect: serde_json::from_str(&expect_text).unwrap(),
            });
        }
    }
    all
}

fn transcripts() -> Vec<Transcript> {
    let mut all = load("sse", &sse_dir());
    all.extend(load("real", &real_dir()));
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

/// What a body decodes to: its parts, and the error it ended with, if any.
#[derive(Debug, Clone, PartialEq)]
struct Decoded {
    parts: Vec<StreamPart>,
    error: Option<ModelError>,
}

/// Every part of a transcript, tagged with the index of the event it came
/// from (a comment's keep-alive, and parts released at the end of the body,
/// get the index of the next event), and the error decoding stopped at.
fn parts_by_event(t: &Transcript) -> (Vec<(usize, StreamPart)>, Option<ModelError>) {
    let mut sse = SseDecoder::new();
    let frames = sse.push(&t.body).unwrap();
    let events = frames
        .iter()
        .filter(|f| matches!(f, SseFrame::Event(_)))
        .count();
    assert_eq!(
        events as u64,
        t.expect["sse_events"].as_u64().unwrap(),
        "{}: event count",
        t.label()
    );
    let mut protocol = decoder(&t.protocol);
    let mut tagged = Vec::new();
    let mut index = 0;
    for frame in frames {
        let event = match frame {
            SseFrame::Event(event) => event,
            SseFrame::Comment(_) => {
                tagged.push((index, StreamPart::KeepAlive));
                continue;
            }
            other => panic!("a frame this test does not know: {other:?}"),
        };
        let mut out = Vec::new();
        let result = protocol.decode(&event, &mut out);
        tagged.extend(out.into_iter().map(|p| (index, p)));
        if let Err(err) = result {
            return (tagged, Some(err));
        }
        index += 1;
    }
    let mut out = Vec::new();
    let end = protocol.end_of_body(&mut out);
    tagged.extend(out.into_iter().map(|p| (index, p)));
    (tagged, end.err())
}

/// [`parts_by_event`] without the tags.
fn decoded_by_event(t: &Transcript) -> Decoded {
    let (tagged, error) = parts_by_event(t);
    Decoded {
        parts: tagged.into_iter().map(|(_, p)| p).collect(),
        error,
    }
}

/// The transcript, decoded from the whole body at once.
fn reference(t: &Transcript) -> Decoded {
    decode_chunks(t, [t.body.as_slice()])
}

fn decode_chunks<'a>(t: &Transcript, chunks: impl IntoIterator<Item = &'a [u8]>) -> Decoded {
    let mut body = BodyDecoder::new(decoder(&t.protocol));
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

/// Whether `ModelError::Provider { kind, message }` keeps the provider's
/// error `code`: as the kind when the error had no other type, else at the
/// end of the message.
fn error_code_kept(code: &str, kind: &str, message: &str) -> bool {
    kind == code || message.ends_with(&format!(" (code: {code})"))
}

/// The error the expect names (`null`, `truncated` or the provider's code).
fn assert_error(t: &Transcript, error: Option<&ModelError>) {
    let label = t.label();
    match (t.expect.get("error").and_then(Value::as_str), error) {
        (None, None) | (Some("truncated"), Some(ModelError::Truncated { .. })) => {}
        (Some(code), Some(ModelError::Provider { kind, message, .. })) if code != "truncated" => {
            assert!(
                error_code_kept(code, kind, message),
                "{label}: error code {code} in kind {kind:?} / message {message:?}"
            );
        }
        (expected, got) => panic!("{label}: expected error {expected:?}, got {got:?}"),
    }
}

/// The finish parts: a completed stream ends in exactly one `Finish`, whose
/// raw string is the provider's or, when it sent none, `""` of kind `Other`.
/// A stream that failed has a `Finish` (its last part) only if the provider
/// sent a finish reason before the error.
fn assert_finish(
    t: &Transcript,
    decoded: &Decoded,
    reason: Option<&tracedeck::model::FinishReason>,
) {
    let label = t.label();
    let finishes = decoded
        .parts
        .iter()
        .filter(|p| matches!(p, StreamPart::Finish { .. }))
        .count();
    let expected = t.expect["finish_reason"].as_str();
    let wanted = usize::from(decoded.error.is_none() || expected.is_some());
    assert_eq!(finishes, wanted, "{label}: Finish parts");
    if finishes == 1 {
        assert!(
            matches!(decoded.parts.last(), Some(StreamPart::Finish { .. })),
            "{label}: Finish is the last part"
        );
    }
    match (reason, expected) {
        (Some(reason), Some(raw)) => assert_eq!(reason.raw, raw, "{label}: finish raw"),
        (Some(reason), None) => {
            assert_eq!(
                (reason.kind, reason.raw.as_str()),
                (FinishKind::Other, ""),
                "{label}: no finish reason sent"
            );
        }
        (None, None) => {}
        (None, Some(raw)) => panic!("{label}: finish reason {raw} lost"),
    }
}

/// Checks what `decoded` adds up to against the transcript's expect.
fn assert_matches_expect(t: &Transcript, decoded: &Decoded) {
    let label = t.label();
    assert_error(t, decoded.error.as_ref());
    let mut acc = ResponseAccumulator::new(ModelInfo::new("test", "test"));
    for part in &decoded.parts {
        acc.push(part);
    }
    let response = acc.finish();
    assert_finish(t, decoded, response.finish_reason.as_ref());
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
    let usage = response.usage.map(|u| {
        serde_json::json!({
            "input_tokens": reported_input_tokens(&t.protocol, &u),
            "output_tokens": u.output_tokens
        })
    });
    assert_eq!(usage.unwrap_or(Value::Null), e["usage"], "{label}: usage");
    // The Finish carries the final usage itself.
    if let Some(StreamPart::Finish { usage, .. }) = decoded.parts.last() {
        assert_eq!(*usage, response.usage, "{label}: usage on the Finish");
    }
}

#[test]
fn the_corpus_holds_thirteen_transcripts_and_forty_real_bodies_of_three_protocols() {
    let all = transcripts();
    let count = |set: &str, protocol: &str| {
        all.iter()
            .filter(|t| t.set == set && t.protocol == protocol)
            .count()
    };
    assert_eq!(all.iter().filter(|t| t.set == "sse").count(), 13);
    for protocol in PROTOCOLS {
        assert!(count("sse", protocol) > 0, "{protocol}");
    }
    assert_eq!(
        (
            count("real", "openai-chat"),
            count("real", "openai-responses"),
            count("real", "anthropic")
        ),
        (18, 15, 7)
    );
    // The real set holds streams that end in an error.
    assert!(
        all.iter()
            .any(|t| !t.expect["error"].is_null() && t.expect.get("error").is_some())
    );
}

#[test]
fn each_transcript_decoded_event_by_event_gives_its_expect_and_first_content_event() {
    for t in transcripts() {
        let (tagged, error) = parts_by_event(&t);
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
        let decoded = Decoded {
            parts: tagged.into_iter().map(|(_, p)| p).collect(),
            error,
        };
        assert_matches_expect(&t, &decoded);
        assert_eq!(
            decoded,
            reference(&t),
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
        let mut decoded = Decoded {
            parts: Vec::new(),
            error: None,
        };
        while let Some(item) = stream.next().await {
            match item {
                Ok(part) => {
                    assert!(
                        decoded.error.is_none(),
                        "{}: a part after the error",
                        t.label()
                    );
                    decoded.parts.push(part);
                }
                Err(err) => {
                    assert!(decoded.error.is_none(), "{}: a second error", t.label());
                    decoded.error = Some(err);
                }
            }
        }
        assert_eq!(
            decoded,
            decoded_by_event(&t),
            "{}: parts over HTTP",
            t.label()
        );
        assert_matches_expect(&t, &decoded);
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].path, path);
        assert_eq!(requests[0].body_json().unwrap()["stream"], true);
    }
}

/// Over real HTTP with one event per millisecond, the recorder's TTFT is
/// stamped on the part of event `first_content_event`: it is the offset of
/// exactly that part, and every part recorded before it came from earlier
/// events. A stream that ends in an error is recorded as failed, with every
/// part before the error and a partial output that still matches the expect.
#[tokio::test]
async fn through_a_recorder_ttft_is_the_arrival_of_the_first_content_event() {
    for t in transcripts() {
        let chunks = Reply::event_chunks(&t.body);
        let reply = chunks.into_iter().fold(Reply::sse(), |r, c| {
            r.chunk_after(std::time::Duration::from_millis(1), c)
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
                if part.is_err() {
                    break;
                }
            }
        })
        .await;
        let trace = &traces.traces()[0];
        let call = trace.llm_spans().next().unwrap();
        let (tagged, error) = parts_by_event(&t);
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
        let status = if error.is_some() {
            SpanStatus::Error
        } else {
            SpanStatus::Ok
        };
        assert_eq!(call.status, status, "{}", t.label());
        assert_eq!(call.error, error, "{}: the recorded error", t.label());
        let recorded = Decoded {
            parts: call.parts.iter().map(|p| p.part.clone()).collect(),
            error: call.error.clone(),
        };
        assert_matches_expect(&t, &recorded);
    }
}

/// Every byte boundary, as two reads. The protocol decoders only ever see
/// whole events, so what a cut can change is what the event-stream reader
/// makes of the bytes: for every cut it must yield exactly the frames of the
/// whole body, in order. (Decoding a whole body to parts at every cut would
/// parse each transcript's JSON once per byte — minutes in a debug build; the
/// part-level checks below cut at every byte at once, at every CR, and at
/// random places.) The whole body is re-read at every cut for the 13 small
/// transcripts; for all 53 the next test covers every cut in a linear way.
#[test]
fn each_transcript_cut_into_two_reads_at_every_byte_boundary_gives_the_same_events() {
    for t in transcripts().into_iter().filter(|t| t.set == "sse") {
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

/// Every byte boundary of every body (the 40 real ones run to 190 KB, too
/// long to re-read whole at each cut): the reader's state before each event
/// is kept, and the event is read from it in two pieces cut at each of its
/// bytes. Each cut must give the frames of the event read whole and leave
/// the reader in the same state, so the rest of the body reads the same
/// whatever the cut: the same property as re-reading the body, at a cost of
/// the sum of the squared event sizes.
#[test]
fn each_transcript_cut_at_every_byte_inside_every_event_gives_the_same_events() {
    for t in transcripts() {
        let mut before = SseDecoder::new();
        let mut offset = 0;
        for event in Reply::event_chunks(&t.body) {
            let mut whole = before.clone();
            let reference = whole.push(&event).unwrap();
            let after = format!("{whole:?}");
            let mut frames = Vec::with_capacity(reference.len());
            for cut in 1..event.len() {
                let mut sse = before.clone();
                frames.clear();
                sse.push_into(&event[..cut], &mut frames).unwrap();
                sse.push_into(&event[cut..], &mut frames).unwrap();
                assert!(
                    frames == reference && format!("{sse:?}") == after,
                    "{}: cut at byte {}",
                    t.label(),
                    offset + cut
                );
            }
            offset += event.len();
            before = whole;
        }
        assert_eq!(offset, t.body.len(), "{}", t.label());
        assert!(!before.has_partial_event(), "{}", t.label());
    }
}

#[test]
fn each_transcript_read_one_byte_at_a_time_gives_the_same_parts() {
    for t in transcripts() {
        let decoded = decode_chunks(&t, t.body.chunks(1));
        assert_eq!(decoded, reference(&t), "{}", t.label());
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
        assert_eq!(reference(&crlf), reference(&t), "{}", t.label());
        // Cut between a CR and its LF everywhere at once.
        let decoded = decode_chunks(&crlf, crlf.body.split_inclusive(|b| *b == b'\r'));
        assert_eq!(
            decoded,
            reference(&t),
            "{}: split after every CR",
            t.label()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
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
            prop_assert_eq!(decode_chunks(&t, chunks), reference(&t), "{}", t.label());
        }
    }
}

// ------------------------------------------------------------------ fuzzing

/// A decoder's whole run over `chunks`: every part, then the end of the
/// body. Nothing may panic; what it returns is not the point.
fn run_decoder(protocol: &str, chunks: &[&[u8]]) -> Decoded {
    let mut body = BodyDecoder::new(decoder(protocol));
    let mut parts = Vec::new();
    let mut error = None;
    for chunk in chunks {
        if let Err(err) = body.push_into(chunk, &mut parts) {
            error = Some(err);
            break;
        }
    }
    if error.is_none() {
        error = body.finish_into(&mut parts).err();
    }
    // What a recorder and a caller do with the parts: fold them, count tokens.
    let mut acc = ResponseAccumulator::new(ModelInfo::new("fuzz", "fuzz"));
    for part in &parts {
        acc.push(part);
        if let StreamPart::Usage { usage }
        | StreamPart::Finish {
            usage: Some(usage), ..
        } = part
        {
            let _ = usage.total_tokens();
        }
    }
    if let Some(usage) = acc.finish().usage {
        let _ = usage.total_tokens();
    }
    Decoded { parts, error }
}

/// Cuts `body` at the given places.
fn cut<'a>(body: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(body.len() + 1)).collect();
    at.push(0);
    at.push(body.len());
    at.sort_unstable();
    at.windows(2).map(|w| &body[w[0]..w[1]]).collect()
}

/// What providers put where an integer goes, at its worst: the limits,
/// negatives, floats, strings, and other JSON types.
fn extreme_number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(u64::MAX.to_string()),
        Just((u64::MAX - 1).to_string()),
        Just(i64::MIN.to_string()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just((u64::from(u32::MAX) + 1).to_string()),
        Just("18446744073709551616".to_owned()),
        Just("1e308".to_owned()),
        Just("-0.5".to_owned()),
        Just("2.5".to_owned()),
        Just("\"12\"".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        any::<u64>().prop_map(|n| n.to_string()),
    ]
}

/// One event of `protocol` with the numbers `n` in its integer places.
fn fuzz_event(protocol: &str, template: usize, n: &[String]) -> String {
    let (a, b, c, d) = (&n[0], &n[1], &n[2], &n[3]);
    match protocol {
        "openai-chat" => match template % 5 {
            0 => format!(
                r#"data: {{"id":"c","choices":[{{"index":{a},"delta":{{"role":"assistant","content":"x","tool_calls":[{{"index":{b},"id":"t{c}","function":{{"name":"f","arguments":"{{"}}}}]}},"finish_reason":"stop"}}]}}"#
            ),
            1 => format!(
                r#"data: {{"choices":[],"usage":{{"prompt_tokens":{a},"completion_tokens":{b},"prompt_tokens_details":{{"cached_tokens":{c}}},"completion_tokens_details":{{"reasoning_tokens":{d}}}}}}}"#
            ),
            2 => format!(
                r#"data: {{"error":{{"message":"m","type":"t","code":{a}}},"usage":{{"prompt_tokens":{b},"completion_tokens":{c}}}}}"#
            ),
            3 => format!(
                "event: error\ndata: {{\"error\":{{\"code\":{a}}},\"usage\":{{\"prompt_tokens\":{b}}}}}"
            ),
            _ => "data: [DONE]".to_owned(),
        },
        "anthropic" => match template % 6 {
            0 => format!(
                "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"usage\":{{\"input_tokens\":{a},\"output_tokens\":{b},\"cache_read_input_tokens\":{c},\"cache_creation_input_tokens\":{d}}}}}}}"
            ),
            1 => format!(
                "event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":{a},\"content_block\":{{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{{\"k\":{b}}}}}}}"
            ),
            2 => format!(
                "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{a},\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{{\"}}}}"
            ),
            3 => format!(
                "event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}},\"usage\":{{\"output_tokens\":{a},\"input_tokens\":{b},\"cache_creation_input_tokens\":{c}}}}}"
            ),
            4 => format!(
                "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":{a}}}"
            ),
            _ => "event: message_stop\ndata: {\"type\":\"message_stop\"}".to_owned(),
        },
        _ => match template % 5 {
            0 => format!(
                "event: response.output_item.added\ndata: {{\"type\":\"response.output_item.added\",\"output_index\":{a},\"item\":{{\"type\":\"function_call\",\"id\":\"fc\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"\"}}}}"
            ),
            1 => format!(
                "event: response.function_call_arguments.delta\ndata: {{\"type\":\"response.function_call_arguments.delta\",\"item_id\":\"fc\",\"output_index\":{a},\"delta\":\"{{\"}}"
            ),
            2 => format!(
                "event: response.output_item.done\ndata: {{\"type\":\"response.output_item.done\",\"output_index\":{a},\"item\":{{\"type\":\"function_call\",\"id\":\"fc\"}}}}"
            ),
            3 => format!(
                "event: response.failed\ndata: {{\"type\":\"response.failed\",\"response\":{{\"status\":\"failed\",\"error\":{{\"code\":{a}}},\"usage\":{{\"input_tokens\":{b},\"output_tokens\":{c}}}}}}}"
            ),
            _ => format!(
                "event: response.completed\ndata: {{\"type\":\"response.completed\",\"response\":{{\"status\":\"completed\",\"usage\":{{\"input_tokens\":{a},\"output_tokens\":{b},\"input_tokens_details\":{{\"cached_tokens\":{c}}},\"output_tokens_details\":{{\"reasoning_tokens\":{d}}}}}}}}}"
            ),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random bytes, cut anywhere: each decoder ends, with parts or a typed
    /// error, and never panics.
    #[test]
    fn the_three_decoders_survive_random_bytes_cut_anywhere(
        body in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let chunks = cut(&body, &cuts);
        for protocol in PROTOCOLS {
            let whole = run_decoder(protocol, &[&body]);
            // The cut cannot change the outcome either.
            prop_assert_eq!(run_decoder(protocol, &chunks), whole, "{}", protocol);
        }
    }

    /// Well-formed events whose integers are at their worst (u64::MAX,
    /// negatives, floats, strings, other types), in any order, cut
    /// anywhere: no panic (no overflow in usage arithmetic), the same
    /// outcome whatever the cuts.
    #[test]
    fn the_three_decoders_survive_extreme_values_where_integers_go(
        events in prop::collection::vec(
            (any::<usize>(), prop::collection::vec(extreme_number(), 4)),
            0..12,
        ),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        for protocol in PROTOCOLS {
            let body: String = events
                .iter()
                .map(|(template, n)| fuzz_event(protocol, *template, n) + "\n\n")
                .collect();
            let whole = run_decoder(protocol, &[body.as_bytes()]);
            let chunks = cut(body.as_bytes(), &cuts);
            prop_assert_eq!(run_decoder(protocol, &chunks), whole, "{}", protocol);
        }
    }
}
