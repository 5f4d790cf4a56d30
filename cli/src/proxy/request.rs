//! Reading one client request: which API and key it is for, its W3C trace
//! context, and its body as the [`ModelRequest`] tracedeck records and
//! matches.

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Map, Value, json};
use tracedeck::ModelRequest;
use tracedeck::providers::codec::WireProtocol;
use tracedeck::providers::openai_chat::decode_chat_request;

/// The header naming the cassette key of a request.
pub const KEY_HEADER: &str = "x-tracedeck-key";

/// The path prefix naming the cassette key: `/k/<key>/v1/...`.
pub const KEY_PREFIX: &str = "/k/";

/// Where a request goes: its API, its key (if it names one) and the path
/// to forward upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) protocol: WireProtocol,
    /// The key from the path prefix, if any.
    pub(crate) path_key: Option<String>,
    /// The API path (`/v1/chat/completions`, ...), without the key prefix.
    pub(crate) api_path: &'static str,
}

/// The route of `path`, or `None` when the proxy serves no API there.
pub(crate) fn route(path: &str) -> Option<Route> {
    let (path_key, api) = match path.strip_prefix(KEY_PREFIX) {
        Some(rest) => {
            let at = rest.find("/v1/")?;
            (Some(rest[..at].to_owned()), &rest[at..])
        }
        None => (None, path),
    };
    let api = api.strip_suffix('/').unwrap_or(api);
    let protocol = WireProtocol::ALL.into_iter().find(|p| p.path() == api)?;
    Some(Route {
        protocol,
        path_key,
        api_path: protocol.path(),
    })
}

/// A W3C `traceparent` header: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct TraceParent {
    pub(crate) trace_id: String,
    pub(crate) parent_id: String,
    pub(crate) flags: String,
}

/// The request's `traceparent`, when it has a valid one (an invalid one is
/// ignored, as the W3C spec asks).
pub(crate) fn traceparent(headers: &HeaderMap) -> Option<TraceParent> {
    let value = headers.get("traceparent")?.to_str().ok()?.trim();
    let fields: Vec<&str> = value.split('-').collect();
    let [version, trace_id, parent_id, flags, ..] = fields.as_slice() else {
        return None;
    };
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let valid = hex(version, 2)
        && *version != "ff"
        && (*version != "00" || fields.len() == 4)
        && hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    valid.then(|| TraceParent {
        trace_id: (*trace_id).to_owned(),
        parent_id: (*parent_id).to_owned(),
        flags: (*flags).to_owned(),
    })
}

/// A request body read for recording: the model request, whether the
/// client asks for a stream, and the body as JSON (the root span's input).
#[derive(Debug, Clone)]
pub(crate) struct ClientCall {
    pub(crate) request: ModelRequest,
    pub(crate) stream: bool,
    pub(crate) body: Value,
}

/// Why a body cannot be proxied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("the request body is not valid JSON: {0}")]
    NotJson(String),
    #[error("the request body must be a JSON object")]
    NotObject,
    #[error("`stream` must be a boolean")]
    BadStream,
    #[error("`model` must be a string")]
    BadModel,
}

/// Reads `body` for `protocol`. Chat Completions bodies are read field by
/// field ([`decode_chat_request`]); the other APIs', and chat bodies the
/// model boundary cannot hold, keep every field but `model` and `stream`
/// verbatim in [`ModelRequest::extra`]. Either way the same body always
/// gives the same request, so what was recorded is found again.
pub(crate) fn read_body(protocol: WireProtocol, body: &Bytes) -> Result<ClientCall, BodyError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
    let Value::Object(fields) = &value else {
        return Err(BodyError::NotObject);
    };
    let stream = match fields.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(BodyError::BadStream),
    };
    let model = match fields.get("model") {
        Some(Value::String(model)) => model.clone(),
        None => String::new(),
        Some(_) => return Err(BodyError::BadModel),
    };
    if protocol == WireProtocol::ChatCompletions {
        if let Ok(chat) = decode_chat_request(body) {
            return Ok(ClientCall {
                request: chat.request,
                stream,
                body: value,
            });
        }
    }
    let mut request = ModelRequest::new(model);
    request.extra = fields
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "model" | "stream"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect::<Map<String, Value>>();
    Ok(ClientCall {
        request,
        stream,
        body: value,
    })
}

/// The JSON error body the proxy answers with itself: the shape OpenAI's
/// and Anthropic's clients both read a message from.
pub(crate) fn error_body(kind: &str, message: &str) -> Value {
    json!({
        "type": "error",
        "error": {"type": kind, "code": kind, "message": message, "param": null},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_the_three_apis_with_and_without_a_key_prefix() {
        let r = route("/v1/chat/completions").unwrap();
        assert_eq!(r.protocol, WireProtocol::ChatCompletions);
        assert_eq!(r.path_key, None);
        let r = route("/k/team/chat-turn/v1/messages").unwrap();
        assert_eq!(r.protocol, WireProtocol::Messages);
        assert_eq!(r.path_key.as_deref(), Some("team/chat-turn"));
        assert_eq!(r.api_path, "/v1/messages");
        assert_eq!(
            route("/v1/responses/").unwrap().protocol,
            WireProtocol::Responses
        );
        assert_eq!(route("/v1/embeddings"), None);
        assert_eq!(route("/k/x/v2/messages"), None);
    }

    #[test]
    fn reads_a_valid_traceparent_and_ignores_invalid_ones() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let tp = traceparent(&headers).unwrap();
        assert_eq!(tp.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_id, "00f067aa0ba902b7");
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "garbage",
        ] {
            headers.insert("traceparent", bad.parse().unwrap());
            assert_eq!(traceparent(&headers), None, "{bad}");
        }
    }

    #[test]
    fn bodies_read_the_same_every_time_and_bad_ones_are_typed_errors() {
        let body = Bytes::from_static(
            br#"{"model":"claude","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
        );
        let a = read_body(WireProtocol::Messages, &body).unwrap();
        assert!(a.stream);
        assert_eq!(a.request.model, "claude");
        assert_eq!(a.request.extra["max_tokens"], 5);
        assert!(!a.request.extra.contains_key("stream"));
        let b = read_body(WireProtocol::Messages, &body).unwrap();
        assert_eq!(a.request, b.request);
        assert!(matches!(
            read_body(WireProtocol::ChatCompletions, &Bytes::from_static(b"{nope")),
            Err(BodyError::NotJson(_))
        ));
        assert_eq!(
            read_body(WireProtocol::Responses, &Bytes::from_static(b"[1]")).unwrap_err(),
            BodyError::NotObject
        );
        assert_eq!(
            read_body(
                WireProtocol::Responses,
                &Bytes::from_static(br#"{"stream":"yes"}"#)
            )
            .unwrap_err(),
            BodyError::BadStream
        );
    }
}
