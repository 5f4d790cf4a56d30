//! Test doubles and helpers: [`ScriptedModel`] plays a [`Script`] exactly on
//! tokio's clock; [`run_paused`] runs a future on a paused clock from a
//! synchronous test (a proptest body, say); with the `proptest` feature,
//! `strategies` generates scripts that mix framing with content.

mod paused;
mod script;
mod scripted_model;
#[cfg(feature = "proptest")]
pub mod strategies;

pub use paused::run_paused;
pub use script::{Script, Step};
pub use scripted_model::ScriptedModel;
