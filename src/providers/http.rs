//! What the three adapters share on the HTTP side: the endpoint settings
//! (base URL, key, extra headers, reqwest client), sending a JSON body, and
//! turning an HTTP error status into [`ModelError::Http`] with the
//! provider's own message and its `Retry-After`.

use std::time::{Duration, SystemTime};

use futures::StreamExt;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::body_stream::part_stream;
use super::decoder::ProtocolDecoder;
use super::error::AdapterError;
use super::secret::ApiKey;
use super::shared::wire::{error_at, excerpt, provider_error, str_at};
use crate::model::{ModelError, PartStream, StreamPart};

/// How an adapter puts its key on the wire. (`pub` in this private module
/// because the [`WireApi`](super::wire_api::WireApi) trait names it.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `Authorization: Bearer <key>` (OpenAI and compatible servers).
    Bearer,
    /// The key as the value of this header (Anthropic's `x-api-key`).
    Header(&'static str),
}

/// An adapter's HTTP settings. Cloning shares the reqwest client and its
/// connection pool.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) adapter: &'static str,
    pub(crate) base_url: String,
    pub(crate) api_key: Option<ApiKey>,
    /// The environment variable `from_env` found no key in: every call
    /// fails with [`AdapterError::MissingApiKey`] until a key is set. Checked
    /// per call, not when the adapter is built, so replay needs no key.
    pub(crate) missing_key: Option<&'static str>,
    pub(crate) auth: AuthScheme,
    /// Extra headers, in the order set; validated when a call is made.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) client: Result<reqwest::Client, String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be credentials: show names only.
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("headers", &header_names)
            .finish_non_exhaustive()
    }
}

/// The client every adapter starts with: rustls, a connect timeout, no
/// overall timeout (a stream may rightly run for minutes).
fn default_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| error_chain(&e))
}

impl Endpoint {
    pub(crate) fn new(adapter: &'static str, base_url: &str, auth: AuthScheme) -> Self {
        Self {
            adapter,
            base_url: base_url.to_owned(),
            api_key: None,
            missing_key: None,
            auth,
            headers: Vec::new(),
            client: default_client(),
        }
    }

    /// A POST of `body` to `path` under the base URL, with the key and
    /// headers, ready to send.
    pub(crate) fn post(
        &self,
        provider: &str,
        path: &str,
        headers: &[(&'static str, &str)],
        body: &Value,
    ) -> Result<HttpCall, ModelError> {
        if let Some(variable) = self.missing_key {
            return Err(AdapterError::MissingApiKey {
                adapter: self.adapter,
                variable,
            }
            .into());
        }
        let client = self.client.as_ref().map_err(|e| ModelError::Config {
            message: format!("{}: the HTTP client could not be built: {e}", self.adapter),
        })?;
        let url = self.url(path)?;
        let mut map = HeaderMap::new();
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in headers {
            self.insert_header(&mut map, name, value)?;
        }
        for (name, value) in &self.headers {
            self.insert_header(&mut map, name, value)?;
        }
        if let Some(key) = self.api_key.as_ref().filter(|k| !k.expose().is_empty()) {
            let (name, value) = match self.auth {
                AuthScheme::Bearer => (
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {}", key.expose()),
                ),
                AuthScheme::Header(name) => {
                    (HeaderName::from_static(name), key.expose().to_owned())
                }
            };
            let mut value =
                HeaderValue::from_str(&value).map_err(|_| AdapterError::InvalidHeader {
                    adapter: self.adapter,
                    name: name.to_string(),
                    reason: "the API key holds characters that cannot go in a header".into(),
                })?;
            value.set_sensitive(true);
            map.insert(name, value);
        }
        let body = serde_json::to_vec(body).map_err(|e| ModelError::Config {
            message: format!(
                "{}: the request body could not be encoded: {e}",
                self.adapter
            ),
        })?;
        Ok(HttpCall {
            request: client.post(url).headers(map).body(body),
            ctx: CallContext {
                provider: provider.to_owned(),
                key: self.api_key.clone(),
            },
        })
    }

    /// Checks that the base URL is an absolute `http`/`https` URL.
    pub(crate) fn check_base_url(&self) -> Result<(), AdapterError> {
        self.url("").map(drop)
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, AdapterError> {
        let invalid = |reason: String| AdapterError::InvalidBaseUrl {
            adapter: self.adapter,
            url: self.base_url.clone(),
            reason,
        };
        let base = reqwest::Url::parse(&self.base_url).map_err(|e| invalid(e.to_string()))?;
        if base.scheme() != "http" && base.scheme() != "https" {
            return Err(invalid(format!(
                "the scheme is `{}`, not http or https",
                base.scheme()
            )));
        }
        let joined = format!("{}{}", self.base_url.trim_end_matches('/'), path);
        reqwest::Url::parse(&joined).map_err(|e| invalid(e.to_string()))
    }

    fn insert_header(
        &self,
        map: &mut HeaderMap,
        name: &str,
        value: &str,
    ) -> Result<(), AdapterError> {
        let invalid = |reason: &str| AdapterError::InvalidHeader {
            adapter: self.adapter,
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid("not a valid header name"))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| invalid("the value holds characters a header cannot"))?;
        // Extra headers often carry credentials (Azure's `api-key`, gateway tokens).
        value.set_sensitive(true);
        map.insert(name, value);
        Ok(())
    }
}

/// A request ready to send.
pub(crate) struct HttpCall {
    request: reqwest::RequestBuilder,
    ctx: CallContext,
}

/// Who a call talks to, and the key to scrub from whatever comes back.
pub(crate) struct CallContext {
    /// The provider named in errors.
    pub(crate) provider: String,
    key: Option<ApiKey>,
}

impl CallContext {
    /// `err` with any echo of the key replaced.
    pub(crate) fn scrub(&self, err: ModelError) -> ModelError {
        match &self.key {
            Some(key) => key.scrub(err),
            None => err,
        }
    }

    /// `part` with any echo of the key replaced.
    pub(crate) fn scrub_part(&self, part: StreamPart) -> StreamPart {
        match &self.key {
            Some(key) => key.scrub_part(part),
            None => part,
        }
    }
}

impl HttpCall {
    /// The URL the call goes to.
    #[cfg(test)]
    pub(crate) fn url(&self) -> Option<reqwest::Url> {
        let request = self.request.try_clone()?.build().ok()?;
        Some(request.url().clone())
    }

    /// Sends the request; resolves when the response headers arrive. An error
    /// status is read to the end and returned as [`ModelError::Http`].
    async fn send(self) -> Result<(reqwest::Response, CallContext), ModelError> {
        let HttpCall { request, ctx } = self;
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Err(ctx.scrub(transport_error(&ctx.provider, &e))),
        };
        if !response.status().is_success() {
            let err = status_error(&ctx.provider, response).await;
            return Err(ctx.scrub(err));
        }
        Ok((response, ctx))
    }

    /// Sends the request, reads the whole JSON response and maps it to parts
    /// with `decode`; every part and every error comes back scrubbed of the key.
    pub(crate) async fn json_parts(
        self,
        decode: impl FnOnce(&Value) -> Result<Vec<StreamPart>, ModelError>,
    ) -> Result<Vec<StreamPart>, ModelError> {
        let (response, ctx) = self.send().await?;
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return Err(ctx.scrub(transport_error(&ctx.provider, &e))),
        };
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ctx.scrub(ModelError::Decode {
                provider: ctx.provider.clone(),
                message: format!(
                    "the response is not JSON ({e}): {}",
                    excerpt(&String::from_utf8_lossy(&bytes))
                ),
            })
        })?;
        match decode(&value) {
            Ok(parts) => Ok(parts.into_iter().map(|p| ctx.scrub_part(p)).collect()),
            Err(e) => Err(ctx.scrub(e)),
        }
    }

    /// Sends the request and, once the headers arrive, streams the body's
    /// events through `decoder`.
    pub(crate) async fn stream<P: ProtocolDecoder>(
        self,
        decoder: P,
    ) -> Result<PartStream, ModelError> {
        let (response, ctx) = self.send().await?;
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            // Some servers answer a streaming request with a plain JSON error.
            let body = response.bytes().await.unwrap_or_default();
            let value = serde_json::from_slice::<Value>(&body).ok();
            let err = match value.as_ref().and_then(error_at) {
                Some(error) => provider_error(&ctx.provider, error),
                None => ModelError::Decode {
                    provider: ctx.provider.clone(),
                    message: format!(
                        "asked for an event stream, got application/json: {}",
                        excerpt(&String::from_utf8_lossy(&body))
                    ),
                },
            };
            return Err(ctx.scrub(err));
        }
        Ok(part_stream(ctx, response.bytes_stream().boxed(), decoder))
    }
}

/// The most of an error body read for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// An HTTP error status as [`ModelError::Http`]: the provider's message from
/// the body, and the delay asked for in `retry-after-ms` / `Retry-After`.
async fn status_error(provider: &str, mut response: reqwest::Response) -> ModelError {
    let status = response.status();
    let retry_after_ms = retry_after_ms(response.headers(), SystemTime::now());
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let message = error_message(&String::from_utf8_lossy(&body)).unwrap_or_else(|| {
        format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("error")
        )
    });
    ModelError::Http {
        provider: provider.to_owned(),
        status: status.as_u16(),
        message,
        retry_after_ms,
    }
}

/// The provider's message in an error body: `error.message` (OpenAI,
/// Anthropic), `error` as a string, `message` or `detail` (other servers), or
/// else the body's text itself.
pub(crate) fn error_message(body: &str) -> Option<String> {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return None;
    }
    if let Ok(json) = serde_json::from_str::<Value>(trimmed) {
        let found = json
            .get("error")
            .and_then(|e| str_at(e, "message").or_else(|| e.as_str()))
            .or_else(|| str_at(&json, "message"))
            .map(str::to_owned)
            .or_else(|| match json.get("detail") {
                Some(Value::String(text)) => Some(text.clone()),
                Some(Value::Null) | None => None,
                Some(other) => Some(other.to_string()),
            });
        if let Some(message) = found {
            return Some(message);
        }
    }
    Some(excerpt(trimmed))
}

/// The delay a server asked for before a retry, in milliseconds: OpenAI's
/// `retry-after-ms`, else `Retry-After` as seconds or as an HTTP date
/// (relative to `now`).
pub(crate) fn retry_after_ms(headers: &HeaderMap, now: SystemTime) -> Option<u64> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(ms.ceil() as u64);
        }
    }
    let value = header("retry-after")?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        if seconds.is_finite() && seconds >= 0.0 {
            return Some((seconds * 1000.0).ceil() as u64);
        }
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let wait = at.duration_since(now).unwrap_or(Duration::ZERO);
    Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
}

/// A reqwest failure as [`ModelError::Transport`], with its causes.
pub(crate) fn transport_error(provider: &str, err: &reqwest::Error) -> ModelError {
    ModelError::Transport {
        provider: provider.to_owned(),
        message: error_chain(err),
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_reads_seconds_fractions_dates_and_openais_ms_header() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after_ms(&headers(&[("retry-after", "7")]), now),
            Some(7000)
        );
        assert_eq!(
            retry_after_ms(&headers(&[("retry-after", "1.5")]), now),
            Some(1500)
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            retry_after_ms(&headers(&[("retry-after", &date)]), now),
            Some(30_000)
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(
            retry_after_ms(&headers(&[("retry-after", &past)]), now),
            Some(0)
        );
        assert_eq!(
            retry_after_ms(
                &headers(&[("retry-after", "20"), ("retry-after-ms", "250.2")]),
                now
            ),
            Some(251)
        );
        assert_eq!(
            retry_after_ms(&headers(&[("retry-after", "soon")]), now),
            None
        );
        assert_eq!(retry_after_ms(&headers(&[]), now), None);
    }

    #[test]
    fn error_messages_come_from_each_servers_shape() {
        let openai = r#"{"error":{"message":"Invalid model","type":"invalid_request_error"}}"#;
        assert_eq!(error_message(openai).as_deref(), Some("Invalid model"));
        let anthropic =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(error_message(anthropic).as_deref(), Some("Overloaded"));
        assert_eq!(
            error_message(r#"{"error":"model not found"}"#).as_deref(),
            Some("model not found")
        );
        assert_eq!(
            error_message(r#"{"detail":"Not Found"}"#).as_deref(),
            Some("Not Found")
        );
        assert_eq!(
            error_message("upstream timeout\n").as_deref(),
            Some("upstream timeout")
        );
        assert_eq!(error_message("  "), None);
    }
}
