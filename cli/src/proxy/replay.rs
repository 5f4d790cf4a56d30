//! The replay side: a recorded model call served in the client's wire
//! protocol, each chunk at its recorded offset (scaled by the speed).

use bytes::Bytes;
use futures::Stream;
use tokio::time::{Instant, sleep_until};
use tracedeck::Span;
use tracedeck::providers::codec::{
    EncodedCall, EncodedStream, StreamEnd, WireChunk, WireProtocol, WireResponse,
};
use tracedeck::replay::Speed;
use tracedeck::span::SpanStatus;

/// How a recorded call is served.
#[derive(Debug)]
pub(crate) enum Served {
    /// An SSE body, its head due at `opened_us`.
    Stream {
        opened_us: u64,
        stream: EncodedStream,
    },
    /// One JSON response, due at `due_us`.
    Response { due_us: u64, response: WireResponse },
}

/// What `span` is served as to a client of `protocol` that asked for a
/// stream (`stream`) or a whole answer: a stream as its SSE body; a whole
/// answer as the protocol's JSON (also from a recorded stream: what its
/// parts add up to); an error as the provider's error response. `None`
/// when the span has nothing to serve (not a model call, or a plain call
/// with neither answer nor error).
pub(crate) fn served(span: &Span, protocol: WireProtocol, stream: bool) -> Option<Served> {
    let end_us = span.timing.duration_us;
    if stream {
        return match protocol.encode_call(span).ok()? {
            EncodedCall::Stream(stream) => Some(Served::Stream {
                opened_us: span.timing.opened_us.unwrap_or(0),
                stream,
            }),
            EncodedCall::Response(response) => Some(Served::Response {
                due_us: end_us,
                response,
            }),
        };
    }
    let response = match (&span.error, span.status) {
        (Some(error), _) => protocol.encode_error(error),
        (None, SpanStatus::Cancelled) if !span.streamed => return None,
        (None, _) => protocol.encode_response(&span.response()?),
    };
    Some(Served::Response {
        due_us: end_us,
        response,
    })
}

/// Waits until `offset_us` after `start`, as `speed` paces it.
pub(crate) async fn wait(speed: Speed, start: Instant, offset_us: u64) {
    if !speed.is_instant() {
        sleep_until(speed.deadline(start, offset_us)).await;
    }
}

/// Why a served body stops short: the recording ended in a broken
/// connection, which the client sees as a cut one.
#[derive(Debug, thiserror::Error)]
#[error("the recorded stream broke off here (as the upstream's did when it was recorded)")]
pub(crate) struct RecordedBreak;

/// The chunks of `stream`, each at its offset from `start`; a recording
/// that ended in a broken connection ends in an error (a cut body).
pub(crate) fn paced(
    stream: EncodedStream,
    speed: Speed,
    start: Instant,
) -> impl Stream<Item = Result<Bytes, RecordedBreak>> + Send + 'static {
    let broken = stream.end == StreamEnd::Break;
    let chunks = stream.chunks.into_iter();
    futures::stream::unfold(
        (chunks, broken, false),
        move |(mut chunks, broken, ended)| async move {
            if ended {
                return None;
            }
            match chunks.next() {
                Some(WireChunk { offset_us, bytes }) => {
                    wait(speed, start, offset_us).await;
                    Some((Ok(bytes), (chunks, broken, false)))
                }
                None if broken => {
                    // Pending once first, so hyper flushes the chunks
                    // already written before it cuts the connection.
                    tokio::task::yield_now().await;
                    Some((Err(RecordedBreak), (chunks, broken, true)))
                }
                None => None,
            }
        },
    )
}

/// The offsets `stream`'s chunks are due at under `speed`, from the call's
/// start: what the proxy sleeps until.
#[cfg(test)]
pub(crate) fn schedule(stream: &EncodedStream, speed: Speed) -> Vec<std::time::Duration> {
    let start = Instant::now();
    stream
        .chunks
        .iter()
        .map(|c| {
            if speed.is_instant() {
                std::time::Duration::ZERO
            } else {
                speed.deadline(start, c.offset_us) - start
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracedeck::StreamPart;
    use tracedeck::model::FinishReason;
    use tracedeck::span::RecordedPart;

    fn stream() -> EncodedStream {
        WireProtocol::ChatCompletions.encode_stream(
            &[
                RecordedPart {
                    offset_us: 120_000,
                    part: StreamPart::text("Hel"),
                },
                RecordedPart {
                    offset_us: 150_000,
                    part: StreamPart::text("lo"),
                },
                RecordedPart {
                    offset_us: 160_000,
                    part: StreamPart::finish(FinishReason::stop()),
                },
            ],
            None,
        )
    }

    #[test]
    fn chunks_are_due_at_their_recorded_offsets_scaled_by_the_speed() {
        let s = stream();
        let as_recorded: Vec<u64> = schedule(&s, Speed::as_recorded())
            .iter()
            .map(|d| d.as_micros() as u64)
            .collect();
        let offsets: Vec<u64> = s.chunks.iter().map(|c| c.offset_us).collect();
        assert_eq!(as_recorded, offsets);
        assert_eq!(offsets[0], 120_000);
        let slow: Vec<u64> = schedule(&s, Speed::scaled(2.0).unwrap())
            .iter()
            .map(|d| d.as_micros() as u64)
            .collect();
        assert_eq!(slow, offsets.iter().map(|o| o * 2).collect::<Vec<_>>());
        assert!(schedule(&s, Speed::instant()).iter().all(|d| d.is_zero()));
    }

    #[tokio::test(start_paused = true)]
    async fn paced_chunks_arrive_at_their_offsets_on_a_paused_clock() {
        use futures::StreamExt;
        let s = stream();
        let offsets: Vec<u64> = s.chunks.iter().map(|c| c.offset_us).collect();
        let start = Instant::now();
        let mut body = Box::pin(paced(s, Speed::as_recorded(), start));
        let mut seen = Vec::new();
        while let Some(chunk) = body.next().await {
            chunk.unwrap();
            seen.push((Instant::now() - start).as_micros() as u64);
        }
        // tokio's timers tick in whole milliseconds: offsets here are whole ms.
        assert_eq!(seen, offsets);
    }
}
