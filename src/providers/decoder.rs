use super::sse::{SseDecoder, SseEvent, SseFrame};
use crate::model::{ModelError, StreamPart};

/// Turns one wire protocol's events into [`StreamPart`]s.
///
/// One decoder reads one response. It is fed every event in body order and
/// knows when the protocol's own end marker has arrived (`data: [DONE]`,
/// `message_stop`, `response.completed`); a body that ends before that is
/// [`ModelError::Truncated`]. The adapters drive it through [`BodyDecoder`];
/// tests and custom transports can drive it directly, event by event.
pub trait ProtocolDecoder: Send + 'static {
    /// The provider named in errors, e.g. `openai`.
    fn provider(&self) -> &str;

    /// Decodes one event, appending the parts it carries to `out`. An error
    /// event of the protocol (Anthropic `overloaded_error`, OpenAI
    /// `{"error": …}`) is returned as [`ModelError::Provider`]; a malformed
    /// event as [`ModelError::Decode`]. Events after the end marker add nothing.
    ///
    /// Before returning an error, a decoder appends to `out` everything the
    /// provider said that it has not passed on yet (contract 4: partial
    /// output is kept): usage the error event itself carries, and a finish
    /// reason held back for the end marker, as a
    /// [`Finish`](StreamPart::Finish) ahead of the error. The parts in `out`
    /// are valid whether or not an error is returned.
    fn decode(&mut self, event: &SseEvent, out: &mut Vec<StreamPart>) -> Result<(), ModelError>;

    /// Whether the protocol's end marker has been decoded.
    fn is_done(&self) -> bool;

    /// The body ended: fine after the end marker, [`ModelError::Truncated`]
    /// before it. A body cut short still keeps what the provider said: the
    /// decoder first appends to `out` what it held back for the end marker
    /// (e.g. a Chat Completions finish reason and usage that arrived without
    /// the closing `[DONE]`, as a [`Finish`](StreamPart::Finish)).
    fn end_of_body(&mut self, out: &mut Vec<StreamPart>) -> Result<(), ModelError> {
        let _ = out;
        if self.is_done() {
            Ok(())
        } else {
            Err(truncated(self))
        }
    }

    /// The end marker, as people know it, for error messages.
    fn end_marker_description(&self) -> &'static str;
}

impl<P: ProtocolDecoder + ?Sized> ProtocolDecoder for Box<P> {
    fn provider(&self) -> &str {
        (**self).provider()
    }
    fn decode(&mut self, event: &SseEvent, out: &mut Vec<StreamPart>) -> Result<(), ModelError> {
        (**self).decode(event, out)
    }
    fn is_done(&self) -> bool {
        (**self).is_done()
    }
    fn end_of_body(&mut self, out: &mut Vec<StreamPart>) -> Result<(), ModelError> {
        (**self).end_of_body(out)
    }
    fn end_marker_description(&self) -> &'static str {
        (**self).end_marker_description()
    }
}

/// The [`ModelError::Truncated`] of a body that ended before `decoder`'s end marker.
pub(crate) fn truncated<P: ProtocolDecoder + ?Sized>(decoder: &P) -> ModelError {
    ModelError::Truncated {
        provider: decoder.provider().to_owned(),
        message: format!("the body ended before {}", decoder.end_marker_description()),
    }
}

/// A response body's bytes, as they arrive, into [`StreamPart`]s: an
/// [`SseDecoder`] feeding a [`ProtocolDecoder`].
///
/// Comment lines become [`StreamPart::KeepAlive`]. Once the protocol's end
/// marker is decoded the rest of the body is ignored.
///
/// ```
/// use tracedeck::providers::{BodyDecoder, openai_chat::ChatStreamDecoder};
/// use tracedeck::StreamPart;
/// let mut body = BodyDecoder::new(ChatStreamDecoder::new("openai"));
/// let mut parts = body.push(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n").unwrap();
/// parts.extend(body.push(b"data: [DONE]\n\n").unwrap());
/// body.finish_into(&mut parts).unwrap();
/// assert_eq!(parts[0], StreamPart::text("Hi"));
/// assert!(matches!(parts.last(), Some(StreamPart::Finish { .. })));
/// ```
#[derive(Debug, Clone)]
pub struct BodyDecoder<P> {
    sse: SseDecoder,
    protocol: P,
    frames: Vec<SseFrame>,
}

impl<P: ProtocolDecoder> BodyDecoder<P> {
    /// A decoder at the start of a body.
    pub fn new(protocol: P) -> Self {
        Self {
            sse: SseDecoder::new(),
            protocol,
            frames: Vec::new(),
        }
    }

    /// The protocol decoder.
    pub fn protocol(&self) -> &P {
        &self.protocol
    }

    /// Whether the protocol's end marker has been decoded.
    pub fn is_done(&self) -> bool {
        self.protocol.is_done()
    }

    /// Reads the next piece of the body; returns the parts it completed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<StreamPart>, ModelError> {
        let mut out = Vec::new();
        self.push_into(bytes, &mut out)?;
        Ok(out)
    }

    /// Like [`push`](BodyDecoder::push), appending to `out`.
    pub fn push_into(&mut self, bytes: &[u8], out: &mut Vec<StreamPart>) -> Result<(), ModelError> {
        if self.protocol.is_done() {
            return Ok(());
        }
        self.frames.clear();
        self.sse
            .push_into(bytes, &mut self.frames)
            .map_err(|e| ModelError::Decode {
                provider: self.protocol.provider().to_owned(),
                message: e.to_string(),
            })?;
        for frame in self.frames.drain(..) {
            if self.protocol.is_done() {
                break;
            }
            match frame {
                SseFrame::Event(event) => self.protocol.decode(&event, out)?,
                SseFrame::Comment(_) => out.push(StreamPart::KeepAlive),
            }
        }
        Ok(())
    }

    /// The body ended: decodes an event left without its closing blank line,
    /// then returns its parts, or [`ModelError::Truncated`] if the protocol's
    /// end marker never came. On an error the parts decoded before it are
    /// dropped; [`finish_into`](BodyDecoder::finish_into) keeps them.
    pub fn finish(&mut self) -> Result<Vec<StreamPart>, ModelError> {
        let mut out = Vec::new();
        self.finish_into(&mut out)?;
        Ok(out)
    }

    /// Like [`finish`](BodyDecoder::finish), appending to `out`, which keeps
    /// every part the provider sent even when the body ends in an error
    /// (e.g. a finish reason and usage that came without `[DONE]`).
    pub fn finish_into(&mut self, out: &mut Vec<StreamPart>) -> Result<(), ModelError> {
        if !self.protocol.is_done() {
            if let Some(event) = self.sse.finish() {
                self.protocol.decode(&event, out)?;
            }
        }
        self.protocol.end_of_body(out)
    }

    /// The body broke off (a transport failure): appends what the protocol
    /// held back for its end marker, as [`finish_into`](BodyDecoder::finish_into)
    /// does, but leaves an unfinished event undecoded (its bytes are cut).
    pub fn broken_into(&mut self, out: &mut Vec<StreamPart>) {
        if !self.protocol.is_done() {
            // The caller reports the transport failure, not the truncation.
            let _ = self.protocol.end_of_body(out);
        }
    }
}

/// Feeds `events` to `decoder` one by one, then ends the body: every part
/// they decode to, or the first error (truncation included).
#[cfg(test)]
pub(crate) fn decode_events<P: ProtocolDecoder>(
    decoder: P,
    events: impl IntoIterator<Item = SseEvent>,
) -> Result<Vec<StreamPart>, ModelError> {
    let (parts, end) = decode_events_partial(decoder, events);
    end.map(|()| parts)
}

/// Like [`decode_events`], keeping the parts decoded before an error.
#[cfg(test)]
pub(crate) fn decode_events_partial<P: ProtocolDecoder>(
    mut decoder: P,
    events: impl IntoIterator<Item = SseEvent>,
) -> (Vec<StreamPart>, Result<(), ModelError>) {
    let mut out = Vec::new();
    for event in events {
        if let Err(err) = decoder.decode(&event, &mut out) {
            return (out, Err(err));
        }
    }
    let end = decoder.end_of_body(&mut out);
    (out, end)
}
