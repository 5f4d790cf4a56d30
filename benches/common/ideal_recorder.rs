//! The ideal recorder: the least any recorder that keeps the timing contract
//! can do per call and per part, as a baseline for the real one.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::future::BoxFuture;
use tokio::time::Instant;
use tracedeck::model::{ModelInfo, PartStream};
use tracedeck::{Model, ModelError, ModelRequest, ModelResponse, StreamPart};

/// Wraps a model and keeps, per stream call, only what the timing contract
/// needs: the call's t0 (one clock read) and each part with its offset from
/// it (one clock read, one clone of the part and one push per part). No
/// request copy, no span, no trace, no JSON: the kept parts are dropped when
/// the stream ends, as the benches' sink drops each trace.
pub struct IdealRecorder<M>(pub M);

impl<M: Model> Model for IdealRecorder<M> {
    fn info(&self) -> ModelInfo {
        self.0.info()
    }

    fn generate(&self, req: ModelRequest) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        self.0.generate(req)
    }

    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        let t0 = Instant::now();
        let open = self.0.stream(req);
        Box::pin(async move {
            let inner = open.await?;
            Ok(Box::pin(Stamped {
                inner,
                t0,
                kept: Vec::new(),
            }) as PartStream)
        })
    }
}

/// A stream whose parts are kept with their offsets (µs) as they pass.
struct Stamped {
    inner: PartStream,
    t0: Instant,
    kept: Vec<(u64, StreamPart)>,
}

impl Stream for Stamped {
    type Item = Result<StreamPart, ModelError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = futures::ready!(this.inner.as_mut().poll_next(cx));
        if let Some(Ok(part)) = &item {
            let offset = this.t0.elapsed().as_micros() as u64;
            this.kept.push((offset, part.clone()));
        }
        Poll::Ready(item)
    }
}
