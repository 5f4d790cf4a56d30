//! Spans: trace snapshots, statistics, timelines and views.

#[path = "../common/mod.rs"]
mod common;
mod snapshot;
mod stats;
mod timeline;
mod views;
