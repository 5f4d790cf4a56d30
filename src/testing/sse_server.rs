//! A loopback HTTP/1.1 server that plays scripted responses, timed chunk by
//! chunk, and records every request it receives.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep, sleep_until};

type Responder = dyn Fn(&ReceivedRequest) -> Reply + Send + Sync;
type ReplyBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// A request the server received, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub struct ReceivedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Every header, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, whole.
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, or `None` if it is not JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the server answers to one request: a status, headers sent after a
/// delay, then body chunks, each after its own delay.
///
/// Delays are on tokio's clock and scheduled from the moment the headers go
/// out, like a real server pushing tokens: chunk *n* is sent at the sum of the
/// delays up to it, however slowly the client reads. A zero delay (the
/// default) costs no timer: the headers or chunk go out at once, not at
/// tokio's next millisecond tick.
///
/// ```
/// use std::time::Duration;
/// use tracedeck::testing::Reply;
/// let reply = Reply::sse()
///     .headers_after(Duration::from_millis(300))
///     .chunk("data: {\"choices\":[]}\n\n")
///     .chunk_after(Duration::from_millis(200), "data: [DONE]\n\n");
/// assert_eq!(reply.duration(), Duration::from_millis(500));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    headers_delay: Duration,
    chunks: Vec<(Duration, Bytes)>,
    break_connection: bool,
}

impl Reply {
    /// `200 OK` with `content-type: text/event-stream` and no body yet.
    pub fn sse() -> Self {
        Self::status(200)
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
    }

    /// A reply with `status`, no headers and no body yet.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            headers_delay: Duration::ZERO,
            chunks: Vec::new(),
            break_connection: false,
        }
    }

    /// `status` with `body` as `application/json`, in one chunk.
    pub fn json(status: u16, body: &Value) -> Self {
        Self::status(status)
            .header("content-type", "application/json")
            .chunk(body.to_string())
    }

    /// An event stream whose `body` is sent one event per chunk, all at once
    /// (each chunk ends after an event's closing blank line; see
    /// [`Reply::event_chunks`]).
    pub fn sse_events(body: impl AsRef<[u8]>) -> Self {
        Self::event_chunks(body.as_ref())
            .into_iter()
            .fold(Self::sse(), Reply::chunk)
    }

    /// Adds the header `name: value`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends the status and headers `delay` after the request arrived.
    pub fn headers_after(mut self, delay: Duration) -> Self {
        self.headers_delay = delay;
        self
    }

    /// Sends `bytes` right after the previous chunk (or the headers).
    pub fn chunk(self, bytes: impl Into<Bytes>) -> Self {
        self.chunk_after(Duration::ZERO, bytes)
    }

    /// Sends `bytes` `delay` after the previous chunk (or the headers).
    pub fn chunk_after(mut self, delay: Duration, bytes: impl Into<Bytes>) -> Self {
        self.chunks.push((delay, bytes.into()));
        self
    }

    /// After the last chunk, breaks the connection instead of ending the body
    /// cleanly: the client sees a transport error, not a finished body.
    pub fn then_break_connection(mut self) -> Self {
        self.break_connection = true;
        self
    }

    /// From the request to the last chunk.
    pub fn duration(&self) -> Duration {
        self.headers_delay + self.chunks.iter().map(|(d, _)| *d).sum::<Duration>()
    }

    /// Splits an event-stream body into its events, each chunk ending after
    /// the blank line that closes an event (LF, CRLF or CR line ends). Bytes
    /// after the last blank line form a last chunk of their own.
    ///
    /// ```
    /// use tracedeck::testing::Reply;
    /// let chunks = Reply::event_chunks(b"data: a\n\n: ping\n\ndata: b\r\n\r\n");
    /// assert_eq!(chunks, vec![b"data: a\n\n".to_vec(), b": ping\n\n".to_vec(), b"data: b\r\n\r\n".to_vec()]);
    /// ```
    pub fn event_chunks(body: &[u8]) -> Vec<Vec<u8>> {
        let mut chunks = Vec::new();
        let mut start = 0;
        let mut line_start = 0;
        let mut i = 0;
        while i < body.len() {
            let b = body[i];
            if b == b'\n' || b == b'\r' {
                let mut end = i + 1;
                if b == b'\r' && body.get(end) == Some(&b'\n') {
                    end += 1;
                }
                if i == line_start && i > start {
                    chunks.push(body[start..end].to_vec());
                    start = end;
                }
                line_start = end;
                i = end;
            } else {
                i += 1;
            }
        }
        if start < body.len() {
            chunks.push(body[start..].to_vec());
        }
        chunks
    }
}

/// A loopback HTTP/1.1 server for tests and demos: it answers each request
/// with a scripted [`Reply`], timed chunk by chunk, and records what it
/// received.
///
/// It listens on `127.0.0.1` at a free port and serves until dropped.
/// Connections are kept alive between requests, as a real API's are. Point
/// an adapter's `base_url` at [`url`](SseServer::url):
///
/// ```
/// use futures::StreamExt;
/// use tracedeck::providers::OpenAi;
/// use tracedeck::testing::{Reply, SseServer};
/// use tracedeck::{Model, ModelRequest};
/// use tracedeck::model::ResponseAccumulator;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let server = SseServer::serve(Reply::sse_events(concat!(
///     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi!\"}}]}\n\n",
///     "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
///     "data: [DONE]\n\n",
/// )))
/// .await?;
/// let model = OpenAi::new("m").base_url(format!("{}/v1", server.url()));
/// let mut parts = model.stream(ModelRequest::new("m").user("Hello")).await.unwrap();
/// let mut answer = ResponseAccumulator::new(model.info());
/// while let Some(part) = parts.next().await {
///     answer.push(&part.unwrap());
/// }
/// assert_eq!(answer.finish().text, "Hi!");
/// assert_eq!(server.requests()[0].path, "/v1/chat/completions");
/// # Ok(()) }
/// ```
///
/// # Building a simulator on it
///
/// [`start`](SseServer::start) takes a function from the request to its
/// reply, so a realistic server is a match on the path and the JSON body:
/// read `body_json()["messages"]`, decide the answer, and return
/// `Reply::sse().headers_after(..)` with one `chunk_after` per event, each a
/// complete `data: ...\n\n` block (or several per chunk, or one event split
/// over chunks, to exercise a client's reader). Errors are plain replies:
/// `Reply::json(429, &body).header("retry-after", "2")`.
///
/// # Timing
///
/// Delays run on tokio's clock. Over real sockets, use real time (a paused
/// clock auto-advances whenever the runtime idles — including while it waits
/// for the network — so timers and socket reads race). Assert lower bounds
/// and order: a chunk never arrives before its scheduled time, but a loaded
/// machine may deliver it later.
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub struct SseServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<ReceivedRequest>>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for SseServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SseServer {
    /// Starts a server that answers every request with `reply`.
    pub async fn serve(reply: Reply) -> std::io::Result<Self> {
        Self::start(move |_| reply.clone()).await
    }

    /// Starts a server that answers each request with what `responder`
    /// returns for it. Must be called inside a tokio runtime.
    pub async fn start(
        responder: impl Fn(&ReceivedRequest) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::new(responder),
            Arc::clone(&requests),
        ));
        Ok(Self {
            addr,
            requests,
            task,
        })
    }

    /// The server's base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for SseServer {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    responder: Arc<Responder>,
    requests: Arc<Mutex<Vec<ReceivedRequest>>>,
) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or similar: back off, then keep serving.
                sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let responder = Arc::clone(&responder);
        let requests = Arc::clone(&requests);
        connections.spawn(async move {
            let service =
                service_fn(move |req| answer(req, Arc::clone(&responder), Arc::clone(&requests)));
            // A client that hangs up mid-reply is not the server's failure.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    req: Request<Incoming>,
    responder: Arc<Responder>,
    requests: Arc<Mutex<Vec<ReceivedRequest>>>,
) -> Result<Response<ReplyBody>, Infallible> {
    let (head, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let received = ReceivedRequest {
        method: head.method.to_string(),
        path: head
            .uri
            .path_and_query()
            .map_or_else(|| head.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        headers: head
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let reply = responder(&received);
    requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(received);
    // A zero delay costs no timer: tokio's timers tick in whole
    // milliseconds, so even a zero-length sleep would wait for the next tick.
    if !reply.headers_delay.is_zero() {
        sleep(reply.headers_delay).await;
    }
    Ok(response(reply))
}

fn response(reply: Reply) -> Response<ReplyBody> {
    let start = Instant::now();
    let break_connection = reply.break_connection;
    let frames = futures::stream::unfold(
        (reply.chunks.into_iter(), start, false),
        move |(mut chunks, at, ended)| async move {
            if ended {
                return None;
            }
            match chunks.next() {
                Some((delay, bytes)) => {
                    // A chunk with no delay is due when the previous one was
                    // sent (or the headers): already past, no timer needed.
                    // It stays a frame of its own, as scripted.
                    let at = at + delay;
                    if !delay.is_zero() {
                        sleep_until(at).await;
                    }
                    Some((Ok(Frame::data(bytes)), (chunks, at, false)))
                }
                None if break_connection => {
                    let err = std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "scripted connection break",
                    );
                    Some((Err(err), (chunks, at, true)))
                }
                None => None,
            }
        },
    );
    let mut response = Response::new(StreamBody::new(frames.boxed()).boxed_unsync());
    match StatusCode::from_u16(reply.status) {
        Ok(status) => *response.status_mut() = status,
        Err(_) => return invalid_reply(format!("status {} is not an HTTP status", reply.status)),
    }
    for (name, value) in &reply.headers {
        let name = match HeaderName::from_bytes(name.as_bytes()) {
            Ok(name) => name,
            Err(_) => return invalid_reply(format!("`{name}` is not a header name")),
        };
        let value = match HeaderValue::from_str(value) {
            Ok(value) => value,
            Err(_) => {
                return invalid_reply(format!("the value of header `{name}` is not sendable"));
            }
        };
        response.headers_mut().append(name, value);
    }
    response
}

/// A reply the script got wrong: a 500 that says what is wrong, so the test
/// that wrote it fails with the reason instead of a silent difference.
fn invalid_reply(reason: String) -> Response<ReplyBody> {
    let body = format!("tracedeck SseServer: invalid scripted reply: {reason}");
    let body = http_body_util::Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}
