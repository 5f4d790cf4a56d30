//! The live side: the upstream API as a tracedeck [`Model`], so a
//! [`Recorder`](tracedeck::Recorder) records every call the proxy forwards
//! (redaction, atomic writes and superseding come with the store sink).
//!
//! The client's body is forwarded byte for byte with its headers (API keys
//! included: they go upstream and nowhere else), and the upstream's bytes go
//! back to the client the moment they arrive ([`Tap`]), while the same bytes
//! are decoded into parts for the recorder: each part is stamped when its
//! bytes arrive, from the instant the request reached the proxy.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::sync::mpsc;
use tracedeck::model::{CallNote, ModelInfo, PartStream, ResponseAccumulator};
use tracedeck::providers::BodyDecoder;
use tracedeck::providers::codec::WireProtocol;
use tracedeck::{Model, ModelError, ModelRequest, ModelResponse, StreamPart};

/// What goes back to the client, in order: the upstream's status and
/// headers, its body bytes as they arrive, and how the body ended.
#[derive(Debug)]
pub(crate) enum Tap {
    /// The response head.
    Head {
        status: StatusCode,
        headers: Vec<(HeaderName, HeaderValue)>,
    },
    /// Body bytes.
    Data(Bytes),
    /// The body broke off (the upstream's connection failed mid-stream):
    /// the client's connection is cut too, so it sees the failure.
    Abort(String),
}

/// One forwarded request: what to send upstream and where its answer goes.
/// Given to [`Upstream`] through a task-local (a model call carries no
/// headers: credentials never enter a [`ModelRequest`]).
#[derive(Debug)]
pub(crate) struct Forward {
    pub(crate) url: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) protocol: WireProtocol,
    pub(crate) tap: mpsc::UnboundedSender<Tap>,
    /// Whether the head went to the client.
    pub(crate) head_sent: AtomicBool,
    /// Credential values from the client's headers, scrubbed from anything
    /// recorded (an upstream may echo a key in an error message).
    pub(crate) secrets: Vec<String>,
}

tokio::task_local! {
    /// The request the current task forwards.
    pub(crate) static FORWARD: Arc<Forward>;
}

impl Forward {
    fn send(&self, tap: Tap) {
        if matches!(tap, Tap::Head { .. }) {
            self.head_sent.store(true, Ordering::SeqCst);
        }
        // A client that left is noticed by the proxy's loop; nothing to do here.
        let _ = self.tap.send(tap);
    }

    fn scrub(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "<redacted>"))
    }

    /// `error` with every credential replaced by `<redacted>`.
    pub(crate) fn scrub_error(&self, error: ModelError) -> ModelError {
        match error {
            ModelError::Http {
                provider,
                status,
                message,
                retry_after_ms,
            } => ModelError::Http {
                provider,
                status,
                message: self.scrub(&message),
                retry_after_ms,
            },
            ModelError::Provider {
                provider,
                kind,
                message,
            } => ModelError::Provider {
                provider,
                kind,
                message: self.scrub(&message),
            },
            ModelError::Transport { provider, message } => ModelError::Transport {
                provider,
                message: self.scrub(&message),
            },
            ModelError::Truncated { provider, message } => ModelError::Truncated {
                provider,
                message: self.scrub(&message),
            },
            ModelError::Decode { provider, message } => ModelError::Decode {
                provider,
                message: self.scrub(&message),
            },
            other => other,
        }
    }
}

/// Headers a request's credentials travel in.
pub(crate) const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "x-api-key",
    "api-key",
    "proxy-authorization",
];

/// The credential values in `headers`: each secret header's value and, for
/// `Bearer <token>`, the token alone.
pub(crate) fn secrets_of(headers: &HeaderMap) -> Vec<String> {
    let mut out = Vec::new();
    for name in SECRET_HEADERS {
        for value in headers.get_all(name) {
            let Ok(value) = value.to_str() else { continue };
            let value = value.trim();
            if let Some((_, token)) = value.split_once(' ') {
                if token.trim().len() >= 8 {
                    out.push(token.trim().to_owned());
                }
            }
            if value.len() >= 8 {
                out.push(value.to_owned());
            }
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// Request headers not forwarded: hop-by-hop ones, the ones the proxy
/// sets itself, its own `x-tracedeck-key`, and `accept-encoding` (the
/// upstream answers uncompressed, so its bytes can be decoded as they come).
const NOT_FORWARDED: [&str; 11] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "accept-encoding",
    super::request::KEY_HEADER,
];

/// The client's headers to send upstream.
pub(crate) fn forwarded_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = headers.clone();
    for name in NOT_FORWARDED {
        out.remove(name);
    }
    out
}

/// Response headers not passed back (the proxy frames the body itself).
const NOT_RETURNED: [&str; 6] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "content-encoding",
    "trailer",
];

/// The provider a protocol's calls are recorded as.
pub(crate) fn provider(protocol: WireProtocol) -> &'static str {
    match protocol {
        WireProtocol::Messages => "anthropic",
        _ => "openai",
    }
}

/// The upstream API as a model. Each call forwards the request of the
/// current task's [`FORWARD`]; called outside one, it fails with a
/// configuration error.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub(crate) client: reqwest::Client,
}

impl Upstream {
    fn current() -> Result<Arc<Forward>, ModelError> {
        FORWARD
            .try_with(Arc::clone)
            .map_err(|_| ModelError::Config {
                message: "the proxy's upstream model was called outside a proxied request"
                    .to_owned(),
            })
    }

    fn note(forward: Option<&Forward>, req: &ModelRequest) -> CallNote {
        match forward {
            Some(f) => CallNote::new().model(ModelInfo::new(provider(f.protocol), &req.model)),
            None => CallNote::new(),
        }
    }
}

/// Sends the forwarded request; answers the response once its head has
/// come (and went to the client), or the error: an HTTP error status has
/// its body read and passed to the client as it is.
async fn open(client: &reqwest::Client, f: &Forward) -> Result<reqwest::Response, ModelError> {
    let provider = provider(f.protocol);
    let response = client
        .post(&f.url)
        .headers(f.headers.clone())
        .body(f.body.clone())
        .send()
        .await
        .map_err(|e| ModelError::Transport {
            provider: provider.to_owned(),
            message: format!("could not reach {}: {}", f.url, error_chain(&e)),
        })?;
    let status = response.status();
    let headers: Vec<(HeaderName, HeaderValue)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !NOT_RETURNED.contains(&name.as_str()))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    if status.is_success() {
        f.send(Tap::Head { status, headers });
        return Ok(response);
    }
    let retry_after_ms = retry_after(response.headers());
    let body = response.bytes().await.unwrap_or_default();
    f.send(Tap::Head { status, headers });
    f.send(Tap::Data(body.clone()));
    Err(ModelError::Http {
        provider: provider.to_owned(),
        status: status.as_u16(),
        message: error_message(&body),
        retry_after_ms,
    })
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// The message of a provider's error body (`error.message`), else its text.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if let Some(message) = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(|m| m.as_str())
    {
        return message.to_owned();
    }
    let text = String::from_utf8_lossy(body);
    text.chars().take(2000).collect()
}

/// `retry-after-ms`, else `retry-after` in seconds.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let read = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    read("retry-after-ms")
        .or_else(|| read("retry-after").map(|s| s * 1000.0))
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| ms as u64)
}

impl Model for Upstream {
    fn info(&self) -> ModelInfo {
        ModelInfo::new("upstream", "")
    }

    fn is_live(&self) -> bool {
        true
    }

    fn generate(&self, req: ModelRequest) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        self.generate_noted(req).0
    }

    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        self.stream_noted(req).0
    }

    fn generate_noted(
        &self,
        req: ModelRequest,
    ) -> (
        BoxFuture<'static, Result<ModelResponse, ModelError>>,
        CallNote,
    ) {
        let forward = Self::current();
        let note = Self::note(forward.as_ref().ok().map(|f| f.as_ref()), &req);
        let client = self.client.clone();
        let call = async move {
            let f = forward?;
            let info = ModelInfo::new(provider(f.protocol), &req.model);
            let result = async {
                let response = open(&client, &f).await?;
                let body = response.bytes().await.map_err(|e| ModelError::Transport {
                    provider: info.provider.clone(),
                    message: error_chain(&e),
                })?;
                f.send(Tap::Data(body.clone()));
                let json: serde_json::Value =
                    serde_json::from_slice(&body).map_err(|e| ModelError::Decode {
                        provider: info.provider.clone(),
                        message: format!("the answer is not JSON: {e}"),
                    })?;
                let parts = f.protocol.decode_response(&info.provider, &json)?;
                let mut answer = ResponseAccumulator::new(info.clone());
                for part in &parts {
                    answer.push(part);
                }
                Ok(answer.finish())
            }
            .await;
            result.map_err(|e| f.scrub_error(e))
        };
        (Box::pin(call), note)
    }

    fn stream_noted(
        &self,
        req: ModelRequest,
    ) -> (BoxFuture<'static, Result<PartStream, ModelError>>, CallNote) {
        let forward = Self::current();
        let note = Self::note(forward.as_ref().ok().map(|f| f.as_ref()), &req);
        let client = self.client.clone();
        let call = async move {
            let f = forward?;
            match open(&client, &f).await {
                Ok(response) => Ok(parts_of(f, response).boxed()),
                Err(e) => Err(f.scrub_error(e)),
            }
        };
        (Box::pin(call), note)
    }
}

struct Reading<B> {
    body: B,
    decoder: BodyDecoder<Box<dyn tracedeck::providers::ProtocolDecoder>>,
    pending: VecDeque<StreamPart>,
    end: Option<ModelError>,
    done: bool,
    forward: Arc<Forward>,
}

/// The upstream's body as parts: each chunk goes to the client first, then
/// to the decoder; the parts it completes are yielded at once.
fn parts_of(
    forward: Arc<Forward>,
    response: reqwest::Response,
) -> impl Stream<Item = Result<StreamPart, ModelError>> + Send + 'static {
    let provider = provider(forward.protocol);
    let state = Reading {
        body: response.bytes_stream(),
        decoder: BodyDecoder::new(forward.protocol.decoder(provider)),
        pending: VecDeque::new(),
        end: None,
        done: false,
        forward,
    };
    futures::stream::unfold(state, move |mut st| async move {
        loop {
            if let Some(part) = st.pending.pop_front() {
                return Some((Ok(part), st));
            }
            if let Some(error) = st.end.take() {
                return Some((Err(st.forward.scrub_error(error)), st));
            }
            if st.done {
                return None;
            }
            match st.body.next().await {
                Some(Ok(chunk)) => {
                    st.forward.send(Tap::Data(chunk.clone()));
                    let mut parts = Vec::new();
                    if let Err(e) = st.decoder.push_into(&chunk, &mut parts) {
                        st.done = true;
                        st.end = Some(e);
                    }
                    st.pending.extend(parts);
                }
                Some(Err(e)) => {
                    st.done = true;
                    let message = error_chain(&e);
                    st.forward.send(Tap::Abort(message.clone()));
                    let mut parts = Vec::new();
                    st.decoder.broken_into(&mut parts);
                    st.pending.extend(parts);
                    st.end = Some(ModelError::Transport {
                        provider: provider.to_owned(),
                        message: format!("the upstream's body broke off: {message}"),
                    });
                }
                None => {
                    st.done = true;
                    let mut parts = Vec::new();
                    if let Err(e) = st.decoder.finish_into(&mut parts) {
                        st.end = Some(e);
                    }
                    st.pending.extend(parts);
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_found_and_scrubbed_and_never_forwarded_twice() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer sk-test-12345678".parse().unwrap());
        headers.insert("x-api-key", "anthropic-key-987654".parse().unwrap());
        headers.insert(super::super::request::KEY_HEADER, "k".parse().unwrap());
        headers.insert("accept-encoding", "gzip".parse().unwrap());
        let secrets = secrets_of(&headers);
        assert!(secrets.contains(&"sk-test-12345678".to_owned()));
        assert!(secrets.contains(&"anthropic-key-987654".to_owned()));
        let forwarded = forwarded_headers(&headers);
        assert!(forwarded.contains_key("authorization"));
        assert!(!forwarded.contains_key(super::super::request::KEY_HEADER));
        assert!(!forwarded.contains_key("accept-encoding"));

        let (tap, _rx) = mpsc::unbounded_channel();
        let f = Forward {
            url: String::new(),
            headers: forwarded,
            body: Bytes::new(),
            protocol: WireProtocol::ChatCompletions,
            tap,
            head_sent: AtomicBool::new(false),
            secrets,
        };
        let scrubbed = f.scrub_error(ModelError::Http {
            provider: "openai".into(),
            status: 401,
            message: "Incorrect API key provided: sk-test-12345678.".into(),
            retry_after_ms: None,
        });
        assert!(!scrubbed.to_string().contains("sk-test-12345678"));
        assert!(scrubbed.to_string().contains("<redacted>"));
    }

    #[test]
    fn error_messages_and_retry_after_are_read() {
        assert_eq!(
            error_message(br#"{"error":{"message":"slow down","type":"rate_limit"}}"#),
            "slow down"
        );
        assert_eq!(error_message(b"plain text"), "plain text");
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(2000));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&h), Some(150));
    }
}
