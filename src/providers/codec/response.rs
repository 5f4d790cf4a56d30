//! A whole HTTP response: what a non-streamed call, or an error before a
//! stream opened, is served as.

use bytes::Bytes;

/// An HTTP response to serve as it is: status, the headers that matter to
/// the protocol's clients, and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireResponse {
    /// The HTTP status.
    pub status: u16,
    /// Headers beyond `content-type` (for errors, `retry-after` and
    /// `retry-after-ms` when the recording asked for a delay).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Bytes,
}

impl WireResponse {
    /// The body's content type: always `application/json`.
    pub const CONTENT_TYPE: &'static str = "application/json";

    pub(crate) fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::from(body.to_string()),
        }
    }
}

/// What an encoded call is served as: a stream body, or one HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodedCall {
    /// A `text/event-stream` body with status 200, its chunks at their offsets.
    Stream(super::EncodedStream),
    /// A JSON response: a non-streamed answer, or an error before the stream opened.
    Response(WireResponse),
}
