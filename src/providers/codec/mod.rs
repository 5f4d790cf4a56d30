//! The way back from parts to the wire: each protocol's encoder turns a
//! recorded call into the HTTP response its clients expect, so a recording
//! can be served to any client of that protocol (a proxy, an HTTP-level
//! adapter), offline, at its recorded part offsets.
//!
//! - A stream becomes SSE events ([`WireProtocol::encode_stream`]): one
//!   [`WireChunk`] per recorded part, stamped with the part's offset, then
//!   the protocol's end marker, or the error the recording ended in as an
//!   in-stream error event.
//! - A non-streamed answer becomes the protocol's JSON body
//!   ([`WireProtocol::encode_response`]).
//! - An error before the stream opened ([`ModelError::Http`]) becomes the
//!   provider's error body and status ([`WireProtocol::encode_error`]).
//!
//! The encoders are pure (no I/O, no `http` feature) and never panic: any
//! parts, strings or counts give a well-formed body.
//!
//! ```
//! use tracedeck::providers::codec::WireProtocol;
//! use tracedeck::providers::BodyDecoder;
//! use tracedeck::span::RecordedPart;
//! use tracedeck::model::FinishReason;
//! use tracedeck::StreamPart;
//!
//! let recorded = [
//!     RecordedPart { offset_us: 120_000, part: StreamPart::text("Hel") },
//!     RecordedPart { offset_us: 150_000, part: StreamPart::text("lo") },
//!     RecordedPart { offset_us: 160_000, part: StreamPart::finish(FinishReason::stop()) },
//! ];
//! let stream = WireProtocol::ChatCompletions.encode_stream(&recorded, None);
//! assert_eq!(stream.chunks[0].offset_us, 120_000);
//!
//! // Decoding the body gives the parts back (contract 11).
//! let mut body = BodyDecoder::new(WireProtocol::ChatCompletions.decoder("openai"));
//! let mut parts = body.push(&stream.body()).unwrap();
//! body.finish_into(&mut parts).unwrap();
//! assert_eq!(parts, recorded.map(|r| r.part));
//! ```
//!
//! # What round-trips (contract 11)
//!
//! Decoding what an encoder wrote gives back the recorded call: the same
//! content parts in the same order (one event per part, never merged or
//! split), the same accumulated output (text, reasoning, refusal, tool calls
//! with ids, names and arguments, model), finish reason, usage and error.
//! Parts decoded from a body of the same protocol come back *exactly*,
//! framing included. What is canonicalized, and why:
//!
//! - **Parts a protocol cannot carry are dropped**: a refusal in Messages (it
//!   has no refusal delta), redacted reasoning in Chat Completions and
//!   Responses (neither streams it). See [`WireProtocol::carries`].
//! - **Framing is the protocol's**: [`StreamStart`](StreamPart::StreamStart)
//!   has no event; a [`ResponseMetadata`](StreamPart::ResponseMetadata) or
//!   [`RoleDelta`](StreamPart::RoleDelta) after the first is not sent (each
//!   protocol names them once); block starts and stops are sent as they are,
//!   and content outside a block of its kind gets a block (Messages) or an
//!   output item (Responses) opened and closed around it, as those
//!   protocols' clients require; Messages and Responses open with
//!   `message_start` / `response.created` even when the recording has no
//!   metadata. Chat Completions has no blocks: block parts are not sent.
//!   Empty deltas carry nothing and are not sent. Keep-alives are comment
//!   lines (Messages: `ping` events).
//! - **Timing**: each chunk is due at the offset of the last part it
//!   carries, so every content part arrives at its recorded offset; framing
//!   that has no event of its own rides with the event that carries it (a
//!   Messages `RoleDelta` in `message_start`, a block start with the tool
//!   call it opens, Responses usage with the final event).
//! - **Usage goes where the protocol reports it**: a [`Usage`](StreamPart::Usage)
//!   part is a usage chunk (Chat Completions) or `message_delta` (Messages);
//!   Responses reports usage only in its final event, so there usage parts
//!   are held for the finish. A finish whose usage differs from the last
//!   usage sent gets its usage sent with it (one more `Usage` part); a
//!   finish without usage after usage was sent reads back carrying it (the
//!   decoders put the last usage on the finish). `message_start` reports
//!   the recording's first usage.
//!   Figures a protocol has no field for come back as `None`:
//!   `cache_creation_input_tokens` in the two OpenAI APIs, `reasoning_tokens`
//!   in Messages. Messages reports input tokens without the cached ones, so
//!   an input count below the cached ones comes back as their sum.
//! - **Finish reasons**: the raw string is sent as it is when the protocol
//!   reads it back with the same kind, else the protocol's own word for the
//!   kind (`stop`/`end_turn`/`completed`, ...). Responses has no finish
//!   before an error other than `response.failed` (read back as kind
//!   `Error`, raw `failed`), so another finish before an error is not sent;
//!   and a finish with no reason (raw `""`) is sent as `incomplete`.
//! - **Errors**: a [`Provider`](ModelError::Provider) error is the protocol's
//!   error event with its kind and message (an empty kind reads back as
//!   `error`); [`Truncated`](ModelError::Truncated) is a body without its
//!   end marker (the message is the decoder's); [`Transport`](ModelError::Transport)
//!   is [`StreamEnd::Break`]; [`Decode`](ModelError::Decode) is an event that
//!   is not JSON (the message is the client's own). Nothing is sent after
//!   the end marker.
//! - **Tool call ids**: ids are kept; an empty id reads back as the
//!   protocol's fallback (Chat Completions `call_<index>`).

mod chunk;
mod errors;
mod response;

pub use chunk::{EncodedStream, StreamEnd, WireChunk};
pub use response::{EncodedCall, WireResponse};

pub(crate) use chunk::SseWriter;
pub(crate) use errors::{HttpError, StreamError};

use super::anthropic::{MessagesEncoder, MessagesStreamDecoder};
use super::decoder::ProtocolDecoder;
use super::openai_chat::{ChatEncoder, ChatStreamDecoder};
use super::openai_responses::{ResponsesEncoder, ResponsesStreamDecoder};
use crate::model::{ModelError, ModelResponse, StreamPart};
use crate::span::{RecordedPart, Span};

/// One of the wire protocols tracedeck speaks, both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireProtocol {
    /// OpenAI Chat Completions (`POST /v1/chat/completions`), and the
    /// OpenAI-compatible servers.
    ChatCompletions,
    /// The OpenAI Responses API (`POST /v1/responses`).
    Responses,
    /// Anthropic Messages (`POST /v1/messages`).
    Messages,
}

/// Why a span could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The span is not a model call.
    #[error("span `{key}` is not a model call: only llm spans have a wire response")]
    NotAModelCall {
        /// The span's key.
        key: String,
    },
    /// A non-streamed call with neither an output that reads as a
    /// [`ModelResponse`] nor an error.
    #[error("model call `{key}` has no response and no error to serve")]
    NoResponse {
        /// The span's key.
        key: String,
    },
}

/// Encodes one recorded part (and the parts after it that it consumes)
/// into the writer; ends the stream.
pub(crate) trait PartEncoder {
    /// Encodes `parts[at]`; returns how many parts it used (at least one:
    /// a block start may take the tool call start it opens).
    fn part(&mut self, parts: &[StreamPart], at: usize, out: &mut SseWriter) -> usize;

    /// The stream ends, in `error` or not; returns how the body ends.
    fn end(&mut self, error: Option<&StreamError>, out: &mut SseWriter) -> StreamEnd;
}

impl WireProtocol {
    /// All three protocols.
    pub const ALL: [WireProtocol; 3] = [Self::ChatCompletions, Self::Responses, Self::Messages];

    /// The request path under the API's base (`/v1/chat/completions`, `/v1/responses`, `/v1/messages`).
    pub fn path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "/v1/chat/completions",
            Self::Responses => "/v1/responses",
            Self::Messages => "/v1/messages",
        }
    }

    /// This protocol's stream decoder, naming `provider` in its errors.
    pub fn decoder(self, provider: impl Into<String>) -> Box<dyn ProtocolDecoder> {
        match self {
            Self::ChatCompletions => Box::new(ChatStreamDecoder::new(provider)),
            Self::Responses => Box::new(ResponsesStreamDecoder::new(provider)),
            Self::Messages => Box::new(MessagesStreamDecoder::new(provider)),
        }
    }

    /// Whether this protocol's streams can carry `part`'s kind of content:
    /// every kind except refusals in Messages and redacted reasoning in Chat
    /// Completions and Responses. Framing is always accepted (and
    /// re-expressed in the protocol's own framing).
    pub fn carries(self, part: &StreamPart) -> bool {
        match part {
            StreamPart::RefusalDelta { .. } => self != Self::Messages,
            StreamPart::RedactedReasoning { .. } => self == Self::Messages,
            _ => true,
        }
    }

    /// The content parts of `parts` this protocol carries, in order: what a
    /// round trip through it keeps exactly ([`StreamPart::is_content`]
    /// parts, filtered by [`carries`](WireProtocol::carries)).
    pub fn content(self, parts: &[StreamPart]) -> Vec<StreamPart> {
        parts
            .iter()
            .filter(|p| p.is_content() && self.carries(p))
            .cloned()
            .collect()
    }

    /// A recorded stream as this protocol's SSE body: one [`WireChunk`] per
    /// part that has bytes, at the part's offset; then the end marker (at
    /// the last part's offset) or the error the recording ended in. A
    /// recording with neither a finish nor an error (a cancelled stream)
    /// gets the end marker too, so the client sees a whole stream: it reads
    /// back with a finish of kind `Other`, raw `""` (Responses: `completed`).
    /// See the [module docs](self) for what comes back exactly.
    pub fn encode_stream(
        self,
        parts: &[RecordedPart],
        error: Option<&ModelError>,
    ) -> EncodedStream {
        let error = error.map(StreamError::of);
        let plain: Vec<StreamPart> = parts.iter().map(|r| r.part.clone()).collect();
        let mut encoder: Box<dyn PartEncoder> = match self {
            Self::ChatCompletions => Box::new(ChatEncoder::new(error.is_some())),
            Self::Responses => Box::new(ResponsesEncoder::new(error.as_ref())),
            Self::Messages => Box::new(MessagesEncoder::new(&plain, error.is_some())),
        };
        let mut out = SseWriter::default();
        let mut at = 0;
        while at < plain.len() {
            let used = encoder
                .part(&plain, at, &mut out)
                .clamp(1, plain.len() - at);
            // A block start sent with the tool call it opens goes at the
            // call's time: content is never early or late.
            out.flush(parts[at + used - 1].offset_us);
            at += used;
        }
        let last = parts.last().map_or(0, |r| r.offset_us);
        let end = encoder.end(error.as_ref(), &mut out);
        out.into_stream(last, end)
    }

    /// A whole (non-streamed) response body of this protocol, as the parts
    /// a stream of it would carry (what the adapters read a plain answer
    /// as), or the provider's error it holds. `provider` is named in errors.
    /// The way back from [`encode_response`](WireProtocol::encode_response).
    ///
    /// ```
    /// use tracedeck::model::{FinishReason, ModelInfo, ResponseAccumulator};
    /// use tracedeck::providers::codec::WireProtocol;
    /// use tracedeck::StreamPart;
    ///
    /// let mut answer = ResponseAccumulator::new(ModelInfo::new("anthropic", "claude"));
    /// answer.push(&StreamPart::text("Paris"));
    /// answer.push(&StreamPart::finish(FinishReason::stop()));
    /// let wire = WireProtocol::Messages.encode_response(&answer.finish());
    /// let body: serde_json::Value = serde_json::from_slice(&wire.body).unwrap();
    ///
    /// let mut read = ResponseAccumulator::new(ModelInfo::new("anthropic", "claude"));
    /// for part in WireProtocol::Messages.decode_response("anthropic", &body).unwrap() {
    ///     read.push(&part);
    /// }
    /// assert_eq!(read.finish().text, "Paris");
    /// ```
    ///
    /// # Errors
    /// The [`ModelError`] the body reports, or [`ModelError::Decode`] for a
    /// body that is not this protocol's answer.
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn decode_response(
        self,
        provider: &str,
        body: &serde_json::Value,
    ) -> Result<Vec<StreamPart>, ModelError> {
        match self {
            Self::ChatCompletions => super::openai_chat::chat_response_parts(provider, body),
            Self::Responses => super::openai_responses::responses_response_parts(provider, body),
            Self::Messages => super::anthropic::messages_response_parts(provider, body),
        }
    }

    /// A non-streamed answer as this protocol's JSON response (status 200).
    /// It decodes back to the same text, reasoning, refusal (not in
    /// Messages), tool calls, usage, finish reason and model. A response
    /// without a finish reason reads back with kind `Other`, raw `""`
    /// (Responses: raw `incomplete`): a non-streamed answer always has one.
    /// Tool call arguments the accumulator kept as a string (they were not
    /// JSON) go back as their raw text.
    pub fn encode_response(self, response: &ModelResponse) -> WireResponse {
        let body = match self {
            Self::ChatCompletions => super::openai_chat::chat_response_body(response),
            Self::Responses => super::openai_responses::responses_response_body(response),
            Self::Messages => super::anthropic::messages_response_body(response),
        };
        WireResponse::json(200, &body)
    }

    /// An error as the HTTP response this protocol's provider answers with:
    /// [`ModelError::Http`] keeps its status, message and `Retry-After`
    /// (as `retry-after-ms` and `retry-after`); a
    /// [`ModelError::Provider`] error is the provider's error body with
    /// status 200 (how a non-streamed call gets one); other errors are
    /// served as a 4xx/5xx naming them.
    pub fn encode_error(self, error: &ModelError) -> WireResponse {
        let http = HttpError::of(error);
        let body = match self {
            Self::ChatCompletions | Self::Responses => serde_json::json!({
                "error": {"message": http.message, "type": http.kind, "param": null, "code": http.kind}
            }),
            Self::Messages => serde_json::json!({
                "type": "error",
                "error": {"type": http.kind, "message": http.message}
            }),
        };
        let mut response = WireResponse::json(http.status, &body);
        response.headers = http.headers();
        response
    }

    /// A recorded model call as this protocol serves it: an error before
    /// the stream opened ([`ModelError::Http`]) as the error response; a
    /// stream as its SSE body; a non-streamed call as its JSON answer or
    /// its error response.
    pub fn encode_call(self, span: &Span) -> Result<EncodedCall, CodecError> {
        if !span.is_llm() {
            return Err(CodecError::NotAModelCall {
                key: span.key.clone(),
            });
        }
        match (&span.error, span.streamed) {
            (Some(error @ ModelError::Http { .. }), _) => {
                Ok(EncodedCall::Response(self.encode_error(error)))
            }
            (error, true) => Ok(EncodedCall::Stream(
                self.encode_stream(&span.parts, error.as_ref()),
            )),
            (Some(error), false) => Ok(EncodedCall::Response(self.encode_error(error))),
            (None, false) => span
                .response()
                .map(|r| EncodedCall::Response(self.encode_response(&r)))
                .ok_or_else(|| CodecError::NoResponse {
                    key: span.key.clone(),
                }),
        }
    }
}

/// The finish string to send for `reason`: its raw string when `read`
/// (the protocol's own reading) gives it the same kind, else `word` for its
/// kind (the protocol's name for it), else the raw string.
pub(crate) fn finish_word(
    reason: &crate::model::FinishReason,
    read: impl Fn(&str) -> crate::model::FinishReason,
    word: impl Fn(crate::model::FinishKind) -> Option<&'static str>,
) -> String {
    if read(&reason.raw).kind == reason.kind {
        return reason.raw.clone();
    }
    word(reason.kind)
        .map(str::to_owned)
        .unwrap_or_else(|| reason.raw.clone())
}

/// The content part a block that opens before `parts` will hold: the first
/// content part before the next block boundary or finish (framing such as
/// keep-alives may come between).
pub(crate) fn next_content(parts: &[StreamPart]) -> Option<&StreamPart> {
    parts
        .iter()
        .take_while(|p| {
            !matches!(
                p,
                StreamPart::BlockStart { .. }
                    | StreamPart::BlockStop { .. }
                    | StreamPart::Finish { .. }
            )
        })
        .find(|p| p.is_content())
}
