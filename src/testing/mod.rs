//! Test doubles and helpers: [`ScriptedModel`] plays a [`Script`] exactly on
//! tokio's clock; [`run_paused`] runs a future on a paused clock from a
//! synchronous test (a proptest body, say); with the `proptest` feature,
//! `strategies` generates scripts that mix framing with content;
//! [`SseServer`] is a loopback HTTP server that plays timed [`Reply`]s to the
//! real provider adapters and records the requests they send;
//! [`OpenAiSimulator`] builds on it an OpenAI-compatible server that streams
//! like a hosted model, for demos and tests with no network.

mod paused;
mod script;
mod scripted_model;
mod simulator;
mod sse_server;
#[cfg(feature = "proptest")]
pub mod strategies;

pub use paused::run_paused;
pub use script::{Script, Step};
pub use scripted_model::ScriptedModel;
pub use simulator::{OpenAiSimulator, SimulatorTiming};
pub use sse_server::{ReceivedRequest, Reply, SseServer};
