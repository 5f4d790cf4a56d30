//! The baseline model: answers from memory, as fast as a model can.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use futures::future::{self, BoxFuture};
use futures::stream;
use tracedeck::model::{FinishReason, ModelInfo, PartStream, ResponseAccumulator, Role, Usage};
use tracedeck::{Model, ModelError, ModelRequest, ModelResponse, StreamPart};

/// Token-sized text deltas, cycled through to fill a stream.
const TOKENS: [&str; 8] = [
    " The", " quick", " brown", " fox", " jumps", " over", " the", " dog.",
];

/// A model that answers every call at once from memory: its stream yields a
/// fixed list of parts with no delay, each a fresh clone (as a provider
/// decodes each part into a new value), and `generate` answers what those
/// parts add up to.
///
/// Measured bare, it is the floor any model call costs; wrapped in a
/// `Recorder`, the difference is what recording adds.
#[derive(Clone)]
pub struct MemoryModel {
    info: ModelInfo,
    parts: Arc<[StreamPart]>,
    response: Arc<ModelResponse>,
    yielding: bool,
}

impl MemoryModel {
    /// A model whose stream yields exactly `len` parts (at least 3): stream
    /// start and the role as framing, `len - 3` text deltas, then the finish
    /// with usage, the shape of an OpenAI or Anthropic stream.
    pub fn streaming(len: usize) -> Self {
        assert!(len >= 3, "a stream needs its start, role and finish");
        let text = (0..len - 3).map(|i| StreamPart::text(TOKENS[i % TOKENS.len()]));
        let parts: Arc<[StreamPart]> = [
            StreamPart::StreamStart,
            StreamPart::RoleDelta {
                role: Role::Assistant,
            },
        ]
        .into_iter()
        .chain(text)
        .chain([StreamPart::Finish {
            reason: FinishReason::stop(),
            usage: Some(Usage::new(120, len as u64 - 3)),
        }])
        .collect();
        let info = ModelInfo::new("memory", "memory-model");
        let mut acc = ResponseAccumulator::new(info.clone());
        for part in parts.iter() {
            acc.push(part);
        }
        Self {
            info,
            parts,
            response: Arc::new(acc.finish()),
            yielding: false,
        }
    }

    /// Makes the stream hand control back to the runtime before each part,
    /// as a part arriving from a socket does: with many calls in flight,
    /// their parts interleave instead of each call running to its end in
    /// one poll.
    pub fn yielding(mut self) -> Self {
        self.yielding = true;
        self
    }

    /// How many parts each stream yields.
    pub fn len(&self) -> usize {
        self.parts.len()
    }
}

impl Model for MemoryModel {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn generate(
        &self,
        _req: ModelRequest,
    ) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        Box::pin(future::ready(Ok((*self.response).clone())))
    }

    fn stream(&self, _req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        let parts = Arc::clone(&self.parts);
        let stream: PartStream = if self.yielding {
            Box::pin(YieldingParts {
                parts,
                next: 0,
                yielded: false,
            })
        } else {
            Box::pin(stream::iter(
                (0..parts.len()).map(move |i| Ok(parts[i].clone())),
            ))
        };
        Box::pin(future::ready(Ok(stream)))
    }
}

/// The parts of a [`MemoryModel::yielding`] stream: each poll for a part
/// first returns `Pending` once (waking itself at once), like
/// `tokio::task::yield_now`.
struct YieldingParts {
    parts: Arc<[StreamPart]>,
    next: usize,
    yielded: bool,
}

impl Stream for YieldingParts {
    type Item = Result<StreamPart, ModelError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.next == self.parts.len() {
            return Poll::Ready(None);
        }
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        let part = self.parts[self.next].clone();
        self.next += 1;
        Poll::Ready(Some(Ok(part)))
    }
}
