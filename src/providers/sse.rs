//! An incremental reader for server-sent events (the `text/event-stream`
//! format of the HTML standard) that holds up against real servers.
//!
//! [`SseDecoder`] takes the body in whatever pieces the network delivers —
//! split at any byte, inside a line, inside a multi-byte UTF-8 character,
//! between the `\r` and `\n` of a CRLF — and yields each complete event as
//! soon as its closing blank line arrives:
//!
//! - lines end in LF, CRLF or a lone CR; a leading byte-order mark is skipped;
//! - `data:` with or without the space; several `data:` lines of one event
//!   are joined with `\n`;
//! - `event:`, `id:` and `retry:` are kept; unknown fields are ignored;
//! - comment lines (`: keep-alive`) are reported as [`SseFrame::Comment`], so
//!   a client can see keep-alives;
//! - lines are decoded as UTF-8 only once complete (a line break is never part
//!   of a multi-byte character, so a character split across reads is never
//!   seen in pieces); invalid bytes become U+FFFD, as the standard says.
//!
//! ```
//! use tracedeck::providers::sse::{SseDecoder, SseFrame};
//! let mut sse = SseDecoder::new();
//! // "é" is two bytes: split the body between them.
//! let body = "event: greet\r\ndata:h\u{e9}\r\ndata: there\r\n\r\n".as_bytes();
//! let (a, b) = body.split_at(17);
//! assert!(sse.push(a).unwrap().is_empty());
//! let frames = sse.push(b).unwrap();
//! let SseFrame::Event(event) = &frames[0] else { panic!() };
//! assert_eq!(event.event.as_deref(), Some("greet"));
//! assert_eq!(event.data, "h\u{e9}\nthere");
//! ```

use std::borrow::Cow;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `None` when absent (the standard's `message`).
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The `id:` field of this event, if it had one.
    pub id: Option<String>,
    /// The `retry:` field of this event, in milliseconds, if it had a valid one.
    pub retry_ms: Option<u64>,
}

impl SseEvent {
    /// The event's type: its `event:` field, or `message` when absent.
    pub fn kind(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }
}

/// What [`SseDecoder::push`] yields, in body order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SseFrame {
    /// A complete event.
    Event(SseEvent),
    /// A comment line (`:` then text), typically a keep-alive. Holds the text
    /// after the colon and its optional space.
    Comment(String),
}

/// Why an event stream could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// One event grew past the decoder's size limit without ending.
    #[error(
        "an event-stream event grew past {limit} bytes without ending (body offset {offset}); \
         raise the limit with SseDecoder::with_max_event_bytes if the server sends such events"
    )]
    EventTooLarge {
        /// The limit, in bytes.
        limit: usize,
        /// The body offset at which the limit was passed.
        offset: u64,
    },
}

/// The default [`SseDecoder`] limit on one event's size: 16 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// An incremental `text/event-stream` reader; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct SseDecoder {
    /// Bytes of the current line, not yet terminated.
    line: Vec<u8>,
    /// The previous byte was a CR: an LF right after it ends no new line.
    after_cr: bool,
    /// Still at the very start of the body, where a byte-order mark may sit.
    at_start: bool,
    /// The event being assembled.
    pending: PendingEvent,
    /// Bytes read so far.
    offset: u64,
    max_event_bytes: usize,
}

#[derive(Debug, Clone, Default)]
struct PendingEvent {
    event: Option<String>,
    /// Every `data:` value followed by `\n`, as the standard builds it.
    data: String,
    id: Option<String>,
    retry_ms: Option<u64>,
    /// Bytes of this event's lines so far.
    size: usize,
}

impl PendingEvent {
    fn is_empty(&self) -> bool {
        self.event.is_none() && self.data.is_empty() && self.id.is_none() && self.retry_ms.is_none()
    }

    /// The event the standard dispatches on a blank line, if any: none when no
    /// data line was seen.
    fn dispatch(&mut self) -> Option<SseEvent> {
        let pending = std::mem::take(self);
        if pending.data.is_empty() {
            return None;
        }
        let mut data = pending.data;
        data.pop(); // the `\n` after the last data line
        Some(SseEvent {
            event: pending.event,
            data,
            id: pending.id,
            retry_ms: pending.retry_ms,
        })
    }
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseDecoder {
    /// A decoder at the start of a body, with the default event size limit.
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that fails with [`SseError::EventTooLarge`] when one event
    /// (its lines, without line ends) grows past `limit` bytes, rather than
    /// buffer a runaway body without end.
    pub fn with_max_event_bytes(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            pending: PendingEvent::default(),
            offset: 0,
            max_event_bytes: limit,
        }
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the next piece of the body; returns the events and comments it
    /// completed, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseFrame>, SseError> {
        let mut frames = Vec::new();
        self.push_into(bytes, &mut frames)?;
        Ok(frames)
    }

    /// Like [`push`](SseDecoder::push), appending to `frames`.
    pub fn push_into(&mut self, bytes: &[u8], frames: &mut Vec<SseFrame>) -> Result<(), SseError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    self.offset += 1;
                    continue;
                }
            }
            match memchr::memchr2(b'\n', b'\r', rest) {
                Some(end) => {
                    self.line.extend_from_slice(&rest[..end]);
                    self.after_cr = rest[end] == b'\r';
                    self.offset += end as u64 + 1;
                    rest = &rest[end + 1..];
                    let line = std::mem::take(&mut self.line);
                    self.check_size(line.len())?;
                    self.take_line(&line, frames);
                    // Keep the allocation for the next line.
                    self.line = line;
                    self.line.clear();
                }
                None => {
                    self.line.extend_from_slice(rest);
                    self.offset += rest.len() as u64;
                    rest = &[];
                    self.check_size(self.line.len())?;
                }
            }
        }
        Ok(())
    }

    /// The body ended. The standard drops an event that was not closed by a
    /// blank line; servers that close the connection right after an event's
    /// last line are common, so an event whose lines all ended is returned
    /// here. An event cut inside a line is dropped. The decoder is reset.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let cut_mid_line = !self.line.is_empty();
        self.line.clear();
        self.after_cr = false;
        let pending = std::mem::take(&mut self.pending);
        if cut_mid_line {
            return None;
        }
        let mut pending = pending;
        pending.dispatch()
    }

    /// Whether bytes of an unfinished event are buffered (an event would be
    /// lost if the body ended now).
    pub fn has_partial_event(&self) -> bool {
        !self.line.is_empty() || !self.pending.is_empty()
    }

    fn check_size(&self, line_len: usize) -> Result<(), SseError> {
        if self.pending.size.saturating_add(line_len) > self.max_event_bytes {
            return Err(SseError::EventTooLarge {
                limit: self.max_event_bytes,
                offset: self.offset,
            });
        }
        Ok(())
    }

    fn take_line(&mut self, raw: &[u8], frames: &mut Vec<SseFrame>) {
        let mut raw = raw;
        if self.at_start {
            self.at_start = false;
            raw = raw.strip_prefix(BOM).unwrap_or(raw);
        }
        if raw.is_empty() {
            if let Some(event) = self.pending.dispatch() {
                frames.push(SseFrame::Event(event));
            }
            return;
        }
        self.pending.size += raw.len();
        // Valid UTF-8 is the rule: check it first (fast), replace only on failure.
        let line: Cow<'_, str> = match std::str::from_utf8(raw) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(raw),
        };
        let (field, value) = match line.find(':') {
            Some(0) => {
                let text = strip_one_space(&line[1..]);
                frames.push(SseFrame::Comment(text.to_owned()));
                return;
            }
            Some(colon) => (&line[..colon], strip_one_space(&line[colon + 1..])),
            None => (&line[..], ""),
        };
        match field {
            "data" => {
                self.pending.data.push_str(value);
                self.pending.data.push('\n');
            }
            "event" => self.pending.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.pending.id = Some(value.to_owned()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.pending.retry_ms = value.parse().ok();
            }
            _ => {}
        }
    }
}

fn strip_one_space(value: &str) -> &str {
    value.strip_prefix(' ').unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<SseFrame> {
        let mut sse = SseDecoder::new();
        let mut out = Vec::new();
        for chunk in chunks {
            sse.push_into(chunk, &mut out).unwrap();
        }
        out
    }

    fn event(kind: Option<&str>, data: &str) -> SseFrame {
        SseFrame::Event(SseEvent {
            event: kind.map(str::to_owned),
            data: data.to_owned(),
            ..SseEvent::default()
        })
    }

    #[test]
    fn lf_crlf_and_lone_cr_line_ends_read_the_same() {
        for sep in ["\n", "\r\n", "\r"] {
            let body = format!("event: a{sep}data: 1{sep}{sep}data:2{sep}{sep}");
            assert_eq!(
                events(&[body.as_bytes()]),
                vec![event(Some("a"), "1"), event(None, "2")],
                "line end {sep:?}"
            );
        }
    }

    #[test]
    fn data_keeps_everything_after_one_optional_space() {
        let frames = events(&[b"data:x\n\ndata: y\n\ndata:  z \n\ndata\n\n"]);
        assert_eq!(
            frames,
            vec![
                event(None, "x"),
                event(None, "y"),
                event(None, " z "),
                event(None, "")
            ]
        );
    }

    #[test]
    fn multi_line_data_joins_with_newlines() {
        let frames = events(&[b"data: {\ndata:  \"a\": 1\ndata: }\n\n"]);
        assert_eq!(frames, vec![event(None, "{\n \"a\": 1\n}")]);
    }

    #[test]
    fn comments_are_reported_and_do_not_end_events() {
        let frames = events(&[b": keep-alive\n\ndata: a\n:ping\ndata: b\n\n"]);
        assert_eq!(
            frames,
            vec![
                SseFrame::Comment("keep-alive".into()),
                SseFrame::Comment("ping".into()),
                event(None, "a\nb"),
            ]
        );
    }

    #[test]
    fn blocks_without_data_dispatch_nothing_and_unknown_fields_are_ignored() {
        let frames = events(&[b"event: ping\n\nfoo: bar\nid: 7\nretry: 1500\ndata: x\n\n"]);
        assert_eq!(
            frames,
            vec![SseFrame::Event(SseEvent {
                event: None,
                data: "x".into(),
                id: Some("7".into()),
                retry_ms: Some(1500),
            })]
        );
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped_even_when_split() {
        let body = b"\xEF\xBB\xBFdata: a\n\n";
        for cut in 0..body.len() {
            let (x, y) = body.split_at(cut);
            assert_eq!(events(&[x, y]), vec![event(None, "a")], "cut at {cut}");
        }
    }

    #[test]
    fn every_split_of_a_crlf_body_with_multibyte_text_gives_the_same_events() {
        let body = "event: t\r\ndata: h\u{e9}llo \u{65e5}\u{672c}\u{8a9e} \u{1f600}\r\ndata:x\r\n\r\n: c\r\ndata: 2\r\n\r\n";
        let whole = events(&[body.as_bytes()]);
        assert_eq!(whole.len(), 3);
        let bytes = body.as_bytes();
        for a in 0..=bytes.len() {
            for b in a..=bytes.len() {
                let got = events(&[&bytes[..a], &bytes[a..b], &bytes[b..]]);
                assert_eq!(got, whole, "cuts at {a} and {b}");
            }
        }
    }

    #[test]
    fn one_byte_at_a_time_matches_the_whole_body() {
        let body = "data: \u{1f600}\r\n\r\n".as_bytes();
        let mut sse = SseDecoder::new();
        let mut out = Vec::new();
        for b in body {
            sse.push_into(std::slice::from_ref(b), &mut out).unwrap();
        }
        assert_eq!(out, vec![event(None, "\u{1f600}")]);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_later_events_still_arrive() {
        let frames = events(&[b"data: a\xFFb\n\ndata: c\n\n"]);
        assert_eq!(frames, vec![event(None, "a\u{fffd}b"), event(None, "c")]);
    }

    #[test]
    fn finish_returns_an_event_whose_lines_ended_and_drops_one_cut_mid_line() {
        let mut sse = SseDecoder::new();
        sse.push(b"data: [DONE]\n").unwrap();
        assert!(sse.has_partial_event());
        assert_eq!(sse.finish().map(|e| e.data), Some("[DONE]".into()));

        let mut sse = SseDecoder::new();
        sse.push(b"data: {\"a\":").unwrap();
        assert!(sse.has_partial_event());
        assert_eq!(sse.finish(), None);

        let mut sse = SseDecoder::new();
        sse.push(b"data: a\n\n").unwrap();
        assert!(!sse.has_partial_event());
        assert_eq!(sse.finish(), None);
    }

    #[test]
    fn an_event_past_the_size_limit_is_a_typed_error() {
        let mut sse = SseDecoder::with_max_event_bytes(16);
        assert!(sse.push(b"data: 0123456789\n").is_ok());
        let err = sse.push(b"data: 0123456789").unwrap_err();
        assert!(matches!(err, SseError::EventTooLarge { limit: 16, .. }));
        // A line with no end at all is caught too.
        let mut sse = SseDecoder::with_max_event_bytes(16);
        assert!(sse.push(&[b'x'; 17]).is_err());
    }

    #[test]
    fn offset_counts_every_byte_read() {
        let mut sse = SseDecoder::new();
        sse.push(b"data: a\r").unwrap();
        sse.push(b"\n\r\n").unwrap();
        assert_eq!(sse.offset(), 11);
    }
}
