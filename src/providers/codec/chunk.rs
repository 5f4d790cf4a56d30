//! What an encoded stream is made of: SSE bytes in chunks stamped with the
//! offset at which a server should send them, and how the body ends.

use bytes::Bytes;
use serde_json::Value;

/// One piece of an encoded stream body: the bytes of the events one recorded
/// part turned into, and the part's offset from the call's start, so a
/// server can send it at its recorded time (`sleep_until(t0 + offset)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireChunk {
    /// Microseconds from the call's start to when these bytes are due.
    pub offset_us: u64,
    /// Whole server-sent events (each ends with its blank line).
    pub bytes: Bytes,
}

/// How a served stream body ends, after its last chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEnd {
    /// Close the body normally. The protocol's own end marker (or an error
    /// event, or its absence for a truncated recording) is already in the
    /// chunks.
    Close,
    /// Break the connection without ending the body: the recording ended in
    /// a [`ModelError::Transport`](crate::ModelError::Transport), which no
    /// byte can express; the client reports its own transport error.
    Break,
}

/// A recorded stream as one protocol's SSE body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedStream {
    /// The body's chunks in order, offsets never decreasing when the
    /// recording's offsets do not.
    pub chunks: Vec<WireChunk>,
    /// What to do after the last chunk.
    pub end: StreamEnd,
}

impl EncodedStream {
    /// The body's content type, served with status 200.
    pub const CONTENT_TYPE: &'static str = "text/event-stream";

    /// The whole body, every chunk's bytes in order.
    pub fn body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.chunks.iter().map(|c| c.bytes.len()).sum());
        for chunk in &self.chunks {
            body.extend_from_slice(&chunk.bytes);
        }
        body
    }
}

/// Writes server-sent events into chunks, one chunk per recorded part.
#[derive(Debug, Default)]
pub(crate) struct SseWriter {
    chunks: Vec<WireChunk>,
    pending: Vec<u8>,
}

impl SseWriter {
    /// An event with an optional `event:` name and JSON data. Serialized JSON
    /// never holds a raw line break, so the data is always one line, whatever
    /// the strings inside it hold.
    pub(crate) fn event(&mut self, name: Option<&str>, data: &Value) {
        if let Some(name) = name {
            self.line("event: ", name);
        }
        self.line("data: ", &data.to_string());
        self.pending.push(b'\n');
    }

    /// An event whose data is `text` as it is (`[DONE]`, undecodable data).
    /// Line breaks in `text` are replaced by spaces: one data line.
    pub(crate) fn raw_data(&mut self, text: &str) {
        self.line("data: ", &text.replace(['\r', '\n'], " "));
        self.pending.push(b'\n');
    }

    /// A comment line (a keep-alive).
    pub(crate) fn comment(&mut self, text: &str) {
        self.line(": ", &text.replace(['\r', '\n'], " "));
        self.pending.push(b'\n');
    }

    fn line(&mut self, prefix: &str, value: &str) {
        self.pending.extend_from_slice(prefix.as_bytes());
        self.pending.extend_from_slice(value.as_bytes());
        self.pending.push(b'\n');
    }

    /// Closes the chunk of what was written since the last flush, due at
    /// `offset_us` (nothing written, no chunk).
    pub(crate) fn flush(&mut self, offset_us: u64) {
        if !self.pending.is_empty() {
            self.chunks.push(WireChunk {
                offset_us,
                bytes: Bytes::from(std::mem::take(&mut self.pending)),
            });
        }
    }

    /// The chunks written.
    pub(crate) fn into_stream(mut self, offset_us: u64, end: StreamEnd) -> EncodedStream {
        self.flush(offset_us);
        EncodedStream {
            chunks: self.chunks,
            end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_strings_stay_on_one_data_line_and_chunks_keep_their_offsets() {
        let mut out = SseWriter::default();
        out.event(
            Some("x"),
            &serde_json::json!({"text": "a\n\ndata: [DONE]\r\n"}),
        );
        out.flush(7);
        out.flush(8);
        out.comment("keep\nalive");
        out.raw_data("bad\r\ndata");
        let stream = out.into_stream(9, StreamEnd::Close);
        assert_eq!(
            stream
                .chunks
                .iter()
                .map(|c| c.offset_us)
                .collect::<Vec<_>>(),
            [7, 9],
            "an empty flush makes no chunk"
        );
        let body = String::from_utf8(stream.body()).unwrap();
        assert_eq!(
            body,
            "event: x\ndata: {\"text\":\"a\\n\\ndata: [DONE]\\r\\n\"}\n\n: keep alive\n\ndata: bad  data\n\n"
        );
    }
}
