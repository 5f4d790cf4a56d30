//! Docs: the README and the quickstart example stay true.

#[path = "../common/mod.rs"]
mod common;
/// The quickstart example itself, loaded once for the tests that run its
/// functions.
#[allow(dead_code)]
#[path = "../../examples/quickstart.rs"]
mod example;
mod quickstart;
mod quickstart_modes;
mod readme;
