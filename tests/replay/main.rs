//! Replay: the Player, modes, replay(key, fn) and span-tree snapshots (issue 4).

mod common;
mod concurrency;
mod deep;
mod misses;
mod modes;
mod player;
mod report;
mod roundtrip;
mod timing;
mod without_keys;
