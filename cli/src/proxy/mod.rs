//! `tracedeck proxy`: a loopback HTTP server that records the model calls
//! any client sends through it and replays them, in any language.
//!
//! Point an OpenAI or Anthropic client's base URL at the proxy. It serves
//! OpenAI Chat Completions (`POST /v1/chat/completions`), the Responses API
//! (`POST /v1/responses`) and Anthropic Messages (`POST /v1/messages`):
//!
//! - **Record** (`--mode record`): the request goes upstream byte for byte,
//!   headers included; the answer comes back to the client byte for byte as
//!   it arrives; the call is recorded as an `llm` span (request, parts with
//!   their arrival offsets, TTFT, output, error) under a `task` root span,
//!   into a content-addressed cassette of the store, through the library's
//!   [`Recorder`] and store sink (so redaction, atomic writes and
//!   superseding all apply). t0 is the instant the request reached the
//!   proxy; each part is stamped when its bytes arrive from upstream.
//! - **Replay** (`--mode replay`): the call is found in the cassettes of
//!   its key ([`Player::take_call`]: the same matching as every replay) and
//!   served with the protocol's encoder at its recorded offsets, scaled by
//!   the speed. A miss is HTTP 404 whose JSON body carries the library's
//!   [`CassetteMiss`](ModelError::CassetteMiss) text: the key and the
//!   path-by-path diff against the closest recorded request.
//! - **Auto**: replay what the key's cassettes hold, record the rest. A
//!   key's cassettes are read at its first request: calls recorded since
//!   are served by the next proxy started on the folder.
//! - **Passthrough**: forward everything, record nothing.
//!
//! **Keys.** The cassette key is the `x-tracedeck-key` header, else a path
//! prefix (`/k/<key>/v1/chat/completions`, so a client that can only set a
//! base URL uses `http://127.0.0.1:8787/k/<key>/v1`), else
//! [`ProxyConfig::default_key`] (`proxy`).
//!
//! **Trace context.** tracedeck writes one cassette per trace of its own,
//! and cannot hang a call under a span of another process. So every
//! request is the root of its own trace; when it carries a valid W3C
//! `traceparent`, the root span's input records it
//! (`{"traceparent": {"trace_id", "parent_id", "flags"}}`), so the calls of
//! one foreign trace can be found and grouped by its trace id.
//! The root span's input is `{"api", "path", "request", "traceparent"?}`:
//! the client's body as JSON, never its headers.
//!
//! **Secrets.** Headers are never recorded: `authorization`, `x-api-key`,
//! `api-key` and every other header go upstream only. Their values are
//! also scrubbed (`<redacted>`) from any error message recorded, in case
//! the upstream echoes a key. Replay needs no key.
//!
//! **Failures.** A body that is not a JSON object is a 400 with a JSON
//! error, and nothing is recorded. A client that disconnects mid-stream
//! leaves its call recorded as `cancelled` with the parts that arrived
//! (contract 4). An upstream that breaks off mid-stream cuts the client's
//! body too, and the call is recorded with status `error`, its parts kept.
//! An unreachable upstream is a 502.

mod live;
mod replay;
mod request;

pub use request::{KEY_HEADER, KEY_PREFIX};

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracedeck::cassette::{CassetteError, Store};
use tracedeck::providers::codec::{EncodedStream, WireResponse};
use tracedeck::replay::{ReplayError, Speed};
use tracedeck::sink::FlushReport;
use tracedeck::{Mode, ModelError, Player, Recorder, with_span};

use live::{FORWARD, Forward, Tap, Upstream};
use request::{ClientCall, Route};

/// The largest request body the proxy reads.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How a proxy runs.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The cassette folder (one store).
    pub dir: PathBuf,
    /// Record, replay, both (`Auto`) or neither (`Passthrough`).
    pub mode: Mode,
    /// The upstream API's origin, e.g. `https://api.openai.com`; the
    /// request's API path (`/v1/...`) is appended. Not needed in `Replay`.
    pub upstream: Option<String>,
    /// The address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The pace of replayed answers.
    pub speed: Speed,
    /// The key of requests that name none.
    pub default_key: String,
}

impl ProxyConfig {
    /// A proxy in `mode` over the folder `dir`, on `127.0.0.1` at a free
    /// port, with no upstream, replaying as recorded, default key `proxy`.
    pub fn new(dir: impl Into<PathBuf>, mode: Mode) -> Self {
        Self {
            dir: dir.into(),
            mode,
            upstream: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            speed: Speed::as_recorded(),
            default_key: "proxy".to_owned(),
        }
    }

    /// Forwards to `origin` (e.g. `https://api.openai.com`).
    pub fn upstream(mut self, origin: impl Into<String>) -> Self {
        self.upstream = Some(origin.into());
        self
    }

    /// Listens on `addr`.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Replays at `speed`.
    pub fn speed(mut self, speed: Speed) -> Self {
        self.speed = speed;
        self
    }

    /// Uses `key` for requests that name none.
    pub fn default_key(mut self, key: impl Into<String>) -> Self {
        self.default_key = key.into();
        self
    }
}

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The cassette folder cannot be opened.
    #[error(transparent)]
    Store(#[from] CassetteError),
    /// The default key is not a valid cassette key.
    #[error("--key `{key}`: {source}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Why it is invalid.
        source: CassetteError,
    },
    /// A mode that calls the upstream was given none.
    #[error("--mode {mode} forwards calls upstream: give --upstream (e.g. https://api.openai.com)")]
    NoUpstream {
        /// The mode.
        mode: Mode,
    },
    /// The upstream is not an `http://` or `https://` URL.
    #[error("--upstream `{url}` must be an http:// or https:// URL")]
    BadUpstream {
        /// What was given.
        url: String,
    },
    /// The HTTP client for the upstream could not be built.
    #[error("cannot build the upstream HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running proxy. Dropping it stops accepting connections (calls in
/// flight finish); [`flush`](ProxyHandle::flush) waits for the recordings.
#[derive(Debug)]
pub struct ProxyHandle {
    addr: SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl ProxyHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`: the base of the API paths (an OpenAI client's base
    /// URL is this plus `/v1`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until every call recorded so far is written to the store, and
    /// reports what could not be.
    pub async fn flush(&self) -> FlushReport {
        match &self.state.recorder {
            Some(recorder) => recorder.flush().await,
            None => FlushReport::default(),
        }
    }

    /// Stops accepting connections, then flushes the recordings.
    pub async fn shutdown(self) -> FlushReport {
        self.accept.abort();
        self.flush().await
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Everything a request needs.
struct State {
    mode: Mode,
    store: Store,
    upstream: Option<String>,
    speed: Speed,
    default_key: String,
    /// Records live calls (`Record`, `Auto`).
    recorder: Option<Recorder<Upstream>>,
    /// Forwards without recording (`Passthrough`).
    passthrough: Upstream,
    /// One player per key, loaded at the key's first request.
    players: Mutex<HashMap<String, Player>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("mode", &self.mode)
            .field("store", &self.store.dir())
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

/// Starts a proxy: opens the store, binds the socket and serves in the
/// background on the current tokio runtime.
///
/// # Errors
/// [`ProxyError`] when the store cannot be opened, the settings are
/// inconsistent or the address cannot be bound.
pub async fn serve(config: ProxyConfig) -> Result<ProxyHandle, ProxyError> {
    let store = Store::open(&config.dir)?;
    store
        .key_dir(&config.default_key)
        .map_err(|source| ProxyError::InvalidKey {
            key: config.default_key.clone(),
            source,
        })?;
    let upstream = match config.upstream {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Some(url.trim_end_matches('/').to_owned())
        }
        Some(url) => return Err(ProxyError::BadUpstream { url }),
        None if config.mode == Mode::Replay => None,
        None => return Err(ProxyError::NoUpstream { mode: config.mode }),
    };
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .build()?;
    let live = Upstream { client };
    let recorder = config
        .mode
        .records()
        .then(|| Recorder::new(live.clone(), store.sink()));
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ProxyError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ProxyError::Listen {
        addr: config.listen,
        source,
    })?;
    let state = Arc::new(State {
        mode: config.mode,
        store,
        upstream,
        speed: config.speed,
        default_key: config.default_key,
        recorder,
        passthrough: live,
        players: Mutex::new(HashMap::new()),
    });
    let accept = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
    Ok(ProxyHandle {
        addr,
        state,
        accept,
    })
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: try again shortly.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(handle(state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Body = BoxBody<Bytes, BodyError>;

/// Why a response body stops short: the client sees a cut connection.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(String);

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn proxy_error(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    json_response(status, &request::error_body(kind, message))
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let start = Instant::now();
    let path = req.uri().path().to_owned();
    let Some(route) = request::route(&path) else {
        return proxy_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!(
                "tracedeck proxy serves POST /v1/chat/completions, /v1/responses and \
                 /v1/messages (optionally under /k/<key>), not `{path}`"
            ),
        );
    };
    if req.method() != http::Method::POST {
        return proxy_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{} takes POST, not {}", route.api_path, req.method()),
        );
    }
    let header_key = match req.headers().get(KEY_HEADER).map(|v| v.to_str()) {
        None => None,
        Some(Ok(key)) => Some(key.trim().to_owned()),
        Some(Err(_)) => {
            return proxy_error(
                StatusCode::BAD_REQUEST,
                "invalid_key",
                "the x-tracedeck-key header is not text",
            );
        }
    };
    let key = header_key
        .or_else(|| route.path_key.clone())
        .unwrap_or_else(|| state.default_key.clone());
    if let Err(e) = state.store.key_dir(&key) {
        return proxy_error(StatusCode::BAD_REQUEST, "invalid_key", &e.to_string());
    }
    let traceparent = request::traceparent(req.headers());
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return proxy_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                &format!("tracedeck proxy reads request bodies up to {MAX_BODY_BYTES} bytes"),
            );
        }
        Err(e) => {
            return proxy_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("tracedeck proxy could not read the request body: {e}"),
            );
        }
    };
    let call = match request::read_body(route.protocol, &body) {
        Ok(call) => call,
        Err(e) => {
            return proxy_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("tracedeck proxy: {e}; nothing was forwarded or recorded"),
            );
        }
    };

    if state.mode.replays() {
        let player = match state.player(&key).await {
            Ok(player) => player,
            Err(e) => {
                return proxy_error(StatusCode::INTERNAL_SERVER_ERROR, "cassette_error", &e);
            }
        };
        match player.take_call(&call.request, call.stream) {
            Ok(span) => {
                return serve_recorded(&state, &key, &span, &route, call.stream, start).await;
            }
            Err(miss) if state.mode == Mode::Replay => return miss_response(&key, &miss),
            // Auto: not recorded yet, so record it.
            Err(_) => {}
        }
    }
    let Some(upstream) = &state.upstream else {
        return proxy_error(
            StatusCode::BAD_GATEWAY,
            "no_upstream",
            "tracedeck proxy has no --upstream to forward this call to",
        );
    };
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let forward = Forward {
        url: format!("{upstream}{}{query}", route.api_path),
        headers: live::forwarded_headers(&parts.headers),
        body,
        protocol: route.protocol,
        tap: mpsc::unbounded_channel().0,
        head_sent: AtomicBool::new(false),
        secrets: live::secrets_of(&parts.headers),
    };
    forward_live(&state, key, route, call, traceparent, forward).await
}

impl State {
    /// The key's player, loading its cassettes at the key's first request
    /// on a blocking thread (file reads and hashing never hold up the
    /// runtime, nor the lock other keys' requests take). Two first requests
    /// racing for one key both load, and both use the player stored first:
    /// one player per key, so a recorded call is served once.
    async fn player(&self, key: &str) -> Result<Player, String> {
        if let Some(player) = self.players().get(key) {
            return Ok(player.clone());
        }
        let store = self.store.clone();
        let owned = key.to_owned();
        let loaded = tokio::task::spawn_blocking(move || Player::from_store(&store, &owned))
            .await
            .map_err(|e| format!("loading the cassettes of key `{key}` failed: {e}"))?
            .map_err(|e: ReplayError| e.to_string())?;
        Ok(self
            .players()
            .entry(key.to_owned())
            .or_insert(loaded)
            .clone())
    }

    fn players(&self) -> std::sync::MutexGuard<'_, HashMap<String, Player>> {
        self.players.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A replay miss as HTTP 404: the library's `CassetteMiss` text, whole.
fn miss_response(key: &str, miss: &ModelError) -> Response<Body> {
    let message = miss.to_string();
    let mut body = request::error_body("cassette_miss", &message);
    body["error"]["key"] = json!(key);
    if let ModelError::CassetteMiss { detail, .. } = miss {
        body["error"]["detail"] = json!(detail);
    }
    json_response(StatusCode::NOT_FOUND, &body)
}

async fn serve_recorded(
    state: &State,
    key: &str,
    span: &tracedeck::Span,
    route: &Route,
    stream: bool,
    start: Instant,
) -> Response<Body> {
    match replay::served(span, route.protocol, stream) {
        Some(replay::Served::Response { due_us, response }) => {
            replay::wait(state.speed, start, due_us).await;
            wire_response(response)
        }
        Some(replay::Served::Stream { opened_us, stream }) => {
            replay::wait(state.speed, start, opened_us).await;
            let body = replay::paced(stream, state.speed, start)
                .map(|chunk| chunk.map(Frame::data).map_err(|e| BodyError(e.to_string())));
            let mut response = Response::new(BodyExt::boxed(StreamBody::new(body)));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(EncodedStream::CONTENT_TYPE),
            );
            response
        }
        None => proxy_error(
            StatusCode::CONFLICT,
            "cassette_unservable",
            &format!(
                "the call recorded under key `{key}` for this request has no answer to serve \
                 (it was cancelled before answering); re-record it"
            ),
        ),
    }
}

fn wire_response(wire: WireResponse) -> Response<Body> {
    let mut response = Response::new(full(wire.body));
    *response.status_mut() =
        StatusCode::from_u16(wire.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(WireResponse::CONTENT_TYPE),
    );
    for (name, value) in wire.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// What a proxied call's root span records as its output.
#[derive(Debug, serde::Serialize)]
struct Outcome {
    /// The upstream's answer ended (or failed) before the client left.
    completed: bool,
    /// The client disconnected before the answer ended.
    client_disconnected: bool,
}

async fn forward_live(
    state: &Arc<State>,
    key: String,
    route: Route,
    call: ClientCall,
    traceparent: Option<request::TraceParent>,
    mut forward: Forward,
) -> Response<Body> {
    let (tap, mut tapped) = mpsc::unbounded_channel();
    forward.tap = tap.clone();
    let forward = Arc::new(forward);
    let mut input = json!({
        "api": route.protocol.path(),
        "path": route.api_path,
        "request": call.body,
    });
    if let Some(tp) = &traceparent {
        input["traceparent"] = json!(tp);
    }
    let state_for_task = Arc::clone(state);
    let forward_for_task = Arc::clone(&forward);
    let task = async move {
        let state = state_for_task;
        match &state.recorder {
            Some(recorder) => {
                with_span(key, input, run_call(recorder, call, &forward_for_task, tap)).await
            }
            None => run_call(&state.passthrough, call, &forward_for_task, tap).await,
        }
    };
    let running = tokio::spawn(FORWARD.scope(forward, task));
    drop(running);

    match tapped.recv().await {
        Some(Tap::Head { status, headers }) => {
            let body = futures::stream::unfold(tapped, |mut tapped| async move {
                match tapped.recv().await? {
                    Tap::Data(bytes) => Some((Ok(Frame::data(bytes)), tapped)),
                    Tap::Abort(message) => {
                        // Pending once first, so hyper flushes the bytes
                        // already written before it cuts the connection.
                        tokio::task::yield_now().await;
                        Some((Err(BodyError(message)), tapped))
                    }
                    // One head per call; never sent twice.
                    Tap::Head { .. } => None,
                }
            });
            let mut response = Response::new(BodyExt::boxed(StreamBody::new(body)));
            *response.status_mut() = status;
            for (name, value) in headers {
                response.headers_mut().append(name, value);
            }
            response
        }
        Some(Tap::Data(_)) | Some(Tap::Abort(_)) | None => proxy_error(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "tracedeck proxy: the upstream call ended without an answer",
        ),
    }
}

/// Makes the call through `model` (the recorder, or the bare upstream in
/// `Passthrough`) and drives it to its end, or until the client leaves:
/// then the stream is dropped, and a recorder records the call cancelled
/// with what had arrived. A call that fails before the upstream answered
/// gets its error to the client as a 502 JSON body.
async fn run_call<M: tracedeck::Model>(
    model: &M,
    call: ClientCall,
    forward: &Forward,
    tap: mpsc::UnboundedSender<Tap>,
) -> Result<Outcome, String> {
    let failed = |error: &ModelError| {
        if !forward.head_sent.load(std::sync::atomic::Ordering::SeqCst) {
            let body = request::error_body("upstream_error", &format!("tracedeck proxy: {error}"));
            let _ = tap.send(Tap::Head {
                status: StatusCode::BAD_GATEWAY,
                headers: vec![(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
            });
            let _ = tap.send(Tap::Data(Bytes::from(body.to_string())));
        }
        Err(error.to_string())
    };
    if !call.stream {
        return match model.generate(call.request).await {
            Ok(_) => Ok(Outcome {
                completed: true,
                client_disconnected: tap.is_closed(),
            }),
            Err(error) => failed(&error),
        };
    }
    let mut parts = match model.stream(call.request).await {
        Ok(parts) => parts,
        Err(error) => return failed(&error),
    };
    loop {
        tokio::select! {
            biased;
            () = tap.closed() => {
                drop(parts);
                return Ok(Outcome { completed: false, client_disconnected: true });
            }
            next = parts.next() => match next {
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.to_string()),
                None => return Ok(Outcome { completed: true, client_disconnected: false }),
            },
        }
    }
}
