//! A response body, read as it arrives, as a [`PartStream`].

use std::collections::VecDeque;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

use super::decoder::{BodyDecoder, ProtocolDecoder};
use super::http::{CallContext, transport_error};
use crate::model::{ModelError, PartStream, StreamPart};

type Body = BoxStream<'static, Result<Bytes, reqwest::Error>>;

struct State<P> {
    /// The provider named in errors, and the key scrubbed from every part and error.
    ctx: CallContext,
    /// `None` once the protocol ended or the body failed: nothing more is read.
    body: Option<Body>,
    decoder: BodyDecoder<P>,
    ready: VecDeque<Result<StreamPart, ModelError>>,
    scratch: Vec<StreamPart>,
}

impl<P: ProtocolDecoder> State<P> {
    fn fail(&mut self, err: ModelError) {
        self.body = None;
        self.ready.push_back(Err(self.ctx.scrub(err)));
    }

    /// Queues the decoded parts, scrubbed of the call's key.
    fn emit_scratch(&mut self) {
        let ctx = &self.ctx;
        let parts = self.scratch.drain(..).map(|p| Ok(ctx.scrub_part(p)));
        self.ready.extend(parts);
    }

    /// Reads until at least one part (or the end) is ready.
    async fn fill(&mut self) {
        while self.ready.is_empty() {
            let Some(body) = self.body.as_mut() else {
                return;
            };
            match body.next().await {
                Some(Ok(bytes)) => {
                    let result = self.decoder.push_into(&bytes, &mut self.scratch);
                    self.emit_scratch();
                    match result {
                        Err(err) => self.fail(err),
                        // The protocol's end: drop the connection's remaining body.
                        Ok(()) if self.decoder.is_done() => self.body = None,
                        Ok(()) => {}
                    }
                }
                Some(Err(err)) => {
                    let err = transport_error(&self.ctx.provider, &err);
                    self.decoder.broken_into(&mut self.scratch);
                    self.emit_scratch();
                    self.fail(err);
                }
                None => {
                    self.body = None;
                    // Parts decoded before a truncation still go out, then the error.
                    let result = self.decoder.finish_into(&mut self.scratch);
                    self.emit_scratch();
                    if let Err(err) = result {
                        self.fail(err);
                    }
                }
            }
        }
    }
}

/// The parts of `body` as `decoder` reads them. Every part a network read
/// completes is yielded at once, in order; the stream ends after the
/// protocol's end marker, or with one error (transport failure, provider
/// error event, malformed event, or truncation), parts and errors scrubbed
/// of the call's key.
pub(crate) fn part_stream<P: ProtocolDecoder>(
    ctx: CallContext,
    body: Body,
    decoder: P,
) -> PartStream {
    let state = State {
        ctx,
        body: Some(body),
        decoder: BodyDecoder::new(decoder),
        ready: VecDeque::new(),
        scratch: Vec::new(),
    };
    futures::stream::unfold(state, |mut state| async move {
        state.fill().await;
        let item = state.ready.pop_front()?;
        Some((item, state))
    })
    .boxed()
}
