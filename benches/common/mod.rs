//! What every benchmark shares: an in-memory model to measure against, a
//! sink that keeps nothing, a typical request, a recorded session to store
//! and replay, the runtimes, and the report that turns criterion's
//! estimates into ratios against each baseline.
//!
//! Each bench binary includes this module and uses part of it.
#![allow(dead_code)]

pub mod ideal_recorder;
pub mod memory_model;
pub mod report;
pub mod session;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tracedeck::model::{Message, PartStream};
use tracedeck::sink::SinkError;
use tracedeck::{ModelError, ModelRequest, Sink, Trace};

/// A sink that drops every trace it gets: the recorder does all of its work
/// (the trace is built and handed over) but nothing accumulates across
/// iterations, so memory stays flat however long criterion runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl Sink for Discard {
    fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError> {
        drop(trace);
        Ok(())
    }
}

/// A typical chat turn: a system prompt, two earlier turns and the new
/// question, with sampling settings (about 640 bytes as JSON).
pub fn chat_request() -> ModelRequest {
    ModelRequest::new("gpt-4o-mini")
        .system(
            "You are a concise assistant for a travel agency. Answer in at most three \
             sentences, cite the page you used, and never invent prices or dates.",
        )
        .user("Which documents do I need to travel from France to Japan for two weeks?")
        .message(Message::assistant(
            "For a stay of up to 90 days French citizens need only a passport valid for \
             the whole stay (visa waiver), see the embassy page.",
        ))
        .user("And if I stay three months and a half?")
        .temperature(0.2)
        .max_tokens(256)
}

/// Consumes a stream to its end, handing every part to `black_box`; returns
/// how many parts it saw.
pub async fn drain(mut parts: PartStream) -> Result<usize, ModelError> {
    let mut seen = 0;
    while let Some(part) = parts.next().await {
        std::hint::black_box(part?);
        seen += 1;
    }
    Ok(seen)
}

/// A single-threaded runtime on the real clock, as a production program has.
///
/// The clock is never paused in the recorder benches: once any runtime in a
/// process pauses its clock, every `tokio::time::Instant::now()` in that
/// process takes tokio's slower test-util path, which production never does.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("building a current-thread runtime")
}

/// How many requests are cloned ahead of a timed stretch of calls.
const BATCH: u64 = 256;

/// Times `iters` calls of `call`, each given its own clone of `req`.
///
/// A caller hands a request over by value, so each call needs one; the
/// clones are made in batches *outside* the timed stretches, so neither the
/// baseline nor the measurement pays for them.
pub async fn time_calls<F, Fut>(iters: u64, req: &ModelRequest, mut call: F) -> Duration
where
    F: FnMut(ModelRequest) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let batch = left.min(BATCH);
        let reqs: Vec<ModelRequest> = (0..batch).map(|_| req.clone()).collect();
        let start = Instant::now();
        for req in reqs {
            call(req).await;
        }
        total += start.elapsed();
        left -= batch;
    }
    total
}
