//! Docs: the README and the quickstart example stay true.

#[path = "../common/mod.rs"]
mod common;
mod quickstart;
mod quickstart_modes;
mod readme;
