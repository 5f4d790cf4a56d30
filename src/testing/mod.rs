//! Test doubles and helpers: [`ScriptedModel`] plays a [`Script`] exactly on
//! tokio's clock.
//!
//! With the `testing` feature (hyper and tokio's `test-util`, kept out of
//! production builds): `run_paused` runs a future on a paused clock from a
//! synchronous test (a proptest body, say); `SseServer` is a loopback HTTP
//! server that plays timed `Reply`s to the real provider adapters and records
//! the requests they send; `OpenAiSimulator` builds on it an
//! OpenAI-compatible server that streams like a hosted model, for demos and
//! tests with no network. With the `proptest` feature, `strategies` generates
//! scripts that mix framing with content.
//!
//! Turn them on for your tests only:
//!
//! ```toml
//! [dev-dependencies]
//! tracedeck = { version = "0.1", features = ["testing"] }
//! ```

#[cfg(feature = "testing")]
mod paused;
mod script;
mod scripted_model;
#[cfg(feature = "testing")]
mod simulator;
#[cfg(feature = "testing")]
mod sse_server;
#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub mod strategies;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use paused::run_paused;
pub use script::{Script, Step};
pub use scripted_model::ScriptedModel;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use simulator::{OpenAiSimulator, SimulatorTiming};
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use sse_server::{ReceivedRequest, Reply, SseServer};
