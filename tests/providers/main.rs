//! Providers: the HTTP adapters' wire format, conformance corpus, secrets, time to first token and the loopback SSE server.

#[cfg(feature = "async-openai")]
mod async_openai;
mod codec;
#[path = "../common/mod.rs"]
mod common;
mod conformance;
mod depth;
#[cfg(feature = "rig")]
mod rig;
mod secrets;
mod sse_server;
mod ttft;
mod wire;
