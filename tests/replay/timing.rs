//! Re-emission on tokio's clock: parts at their recorded offsets, `opened`,
//! errors, `generate` durations, speed settings, and (what must be shown 2)
//! microsecond offsets replayed within one millisecond, rounded up, never early.

use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use tracedeck::model::{FinishReason, Role};
use tracedeck::replay::Speed;
use tracedeck::testing::run_paused;
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, Player, Recorder, Script, ScriptedModel,
    StreamPart, Trace, with_span,
};

use crate::common::ms;

fn req(text: &str) -> ModelRequest {
    ModelRequest::new("m").user(text)
}

/// Records one stream call of `script` (consumed to the end or first error)
/// and one generate call, under a root span.
async fn record(script: Script, consume: usize) -> Trace {
    let traces = Collector::new();
    let model = Recorder::new(ScriptedModel::new(script), traces.clone());
    with_span("t", 0, async {
        if let Ok(mut parts) = model.stream(req("s")).await {
            let mut n = 0;
            while n < consume {
                match parts.next().await {
                    Some(Ok(_)) => n += 1,
                    _ => break,
                }
            }
        }
        let _ = model.generate(req("g")).await;
    })
    .await;
    traces.take().remove(0)
}

/// What a consumer sees from a stream call, with offsets from the call.
async fn consume(
    model: &dyn Model,
    request: ModelRequest,
) -> (
    Result<Duration, ModelError>,
    Vec<(Duration, Result<StreamPart, ModelError>)>,
) {
    let t0 = Instant::now();
    let mut parts = match model.stream(request).await {
        Ok(parts) => parts,
        Err(e) => return (Err(e), Vec::new()),
    };
    let opened = t0.elapsed();
    let mut seen = Vec::new();
    while let Some(item) = parts.next().await {
        seen.push((t0.elapsed(), item));
    }
    (Ok(opened), seen)
}

fn script() -> Script {
    Script::new()
        .open_after(ms(800))
        .part(StreamPart::StreamStart)
        .part(StreamPart::RoleDelta {
            role: Role::Assistant,
        })
        .part_after(ms(400), StreamPart::text("Hello"))
        .part_after(ms(20), StreamPart::text(" world"))
        .part_after(ms(5), StreamPart::finish(FinishReason::stop()))
}

#[tokio::test(start_paused = true)]
async fn streams_open_and_yield_every_part_at_its_recorded_offset() {
    let player = Player::from_traces("t", [record(script(), usize::MAX).await]);
    let (opened, seen) = consume(&player, req("s")).await;
    assert_eq!(opened.unwrap(), ms(800));
    let at: Vec<Duration> = seen.iter().map(|(t, _)| *t).collect();
    assert_eq!(at, [ms(800), ms(800), ms(1200), ms(1220), ms(1225)]);
    let parts: Vec<StreamPart> = seen.into_iter().map(|(_, p)| p.unwrap()).collect();
    assert_eq!(parts[2], StreamPart::text("Hello"));
}

#[tokio::test(start_paused = true)]
async fn generate_answers_after_its_recorded_duration() {
    let player = Player::from_traces("t", [record(script(), usize::MAX).await]);
    let t0 = Instant::now();
    let answer = player.generate(req("g")).await.unwrap();
    assert_eq!(t0.elapsed(), ms(1225));
    assert_eq!(answer.text, "Hello world");
}

#[tokio::test(start_paused = true)]
async fn recorded_errors_come_back_at_their_instant() {
    let failure = ModelError::Provider {
        provider: "anthropic".into(),
        kind: "overloaded_error".into(),
        message: "Overloaded".into(),
    };
    let mid_stream = Script::new()
        .open_after(ms(100))
        .part_after(ms(50), StreamPart::text("par"))
        .error_after(ms(70), failure.clone());
    let player = Player::from_traces("t", [record(mid_stream, usize::MAX).await]);
    let (opened, seen) = consume(&player, req("s")).await;
    assert_eq!(opened.unwrap(), ms(100));
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], (ms(150), Ok(StreamPart::text("par"))));
    assert_eq!(seen[1], (ms(220), Err(failure.clone())));
    let t0 = Instant::now();
    assert_eq!(player.generate(req("g")).await.unwrap_err(), failure);
    assert_eq!(t0.elapsed(), ms(220));

    // A stream that failed to open fails to open again, at the same instant.
    let refused = ModelError::Http {
        provider: "openai".into(),
        status: 429,
        message: "slow down".into(),
        retry_after_ms: Some(1000),
    };
    let player = Player::from_traces(
        "t",
        [record(
            Script::new()
                .open_after(ms(250))
                .fail_to_open(refused.clone()),
            0,
        )
        .await],
    );
    let t0 = Instant::now();
    let (opened, _) = consume(&player, req("s")).await;
    assert_eq!(opened.unwrap_err(), refused);
    assert_eq!(t0.elapsed(), ms(250));
}

#[tokio::test(start_paused = true)]
async fn a_recording_its_consumer_dropped_ends_with_a_miss_after_its_parts() {
    let trace = record(script(), 3).await;
    assert_eq!(
        trace.spans[1].status,
        tracedeck::span::SpanStatus::Cancelled
    );
    let player = Player::from_traces("t", [trace]);
    let (_, seen) = consume(&player, req("s")).await;
    assert_eq!(seen.len(), 4);
    assert!(seen[..3].iter().all(|(_, p)| p.is_ok()));
    let (at, last) = &seen[3];
    assert!(*at > ms(1200), "never before the recorded end: {at:?}");
    match last {
        Err(ModelError::CassetteMiss { key, detail }) => {
            assert_eq!(key, "t");
            assert!(detail.contains("cancelled by its caller"), "{detail}");
            assert!(detail.contains("after 3 part(s)"), "{detail}");
        }
        other => panic!("expected a miss, got {other:?}"),
    }
}

/// A caller that gives up on a slow stream before it opens (a timeout): its
/// recording was cancelled before it opened, and replays the same way — the
/// stream does not open before the caller gives up again, so the caller
/// takes the same path and the replay records the same span.
#[tokio::test(start_paused = true)]
async fn a_stream_abandoned_before_it_opened_is_abandoned_again_on_replay() {
    async fn impatient(model: &dyn Model) -> bool {
        let open = tokio::time::timeout(ms(10), model.stream(req("s"))).await;
        open.is_err()
    }
    let recorded = Collector::new();
    let live = Recorder::new(
        ScriptedModel::new(Script::text("late").open_after(ms(1_000))),
        recorded.clone(),
    );
    assert!(impatient(&live).await, "the live call timed out");
    let [trace] = recorded.take().try_into().unwrap();
    assert_eq!(trace.root().status, tracedeck::span::SpanStatus::Cancelled);
    assert_eq!(trace.root().timing.opened_us, None);

    let replayed = Collector::new();
    let replaying = Recorder::new(Player::from_traces("t", [trace.clone()]), replayed.clone());
    assert!(
        impatient(&replaying).await,
        "the replayed call times out too"
    );
    let [again] = replayed.take().try_into().unwrap();
    assert_eq!(again, trace);

    // A caller that waits longer than was recorded learns, just after the
    // recorded end, that nothing more was recorded.
    let t0 = Instant::now();
    let Err(err) = Player::from_traces("t", [trace]).stream(req("s")).await else {
        panic!("a stream recorded without opening never opens");
    };
    assert_eq!(t0.elapsed(), ms(11));
    assert!(
        matches!(&err, ModelError::CassetteMiss { detail, .. } if detail.contains("before the stream opened")),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn speed_instant_and_scaled_change_the_pace() {
    let trace = record(script(), usize::MAX).await;
    let instant = Player::from_traces("t", [trace.clone()]).speed(Speed::instant());
    let (opened, seen) = consume(&instant, req("s")).await;
    assert_eq!(opened.unwrap(), Duration::ZERO);
    assert!(seen.iter().all(|(t, _)| *t == Duration::ZERO));
    assert_eq!(seen.len(), 5);

    let half = Player::from_traces("t", [trace]).speed(Speed::scaled(0.5).unwrap());
    let (opened, seen) = consume(&half, req("s")).await;
    assert_eq!(opened.unwrap(), ms(400));
    // 1225 ms halved is 612.5 ms; tokio's millisecond timer rounds it up.
    assert_eq!(seen.last().unwrap().0, ms(613));
}

/// What must be shown 2.
#[test]
fn microsecond_offsets_replay_within_a_millisecond_rounded_up_never_early() {
    run_paused(async {
        let mut trace = record(script(), usize::MAX).await;
        let recorded_parts = [1_500, 2_300, 2_999, 3_000, 7_001];
        let stream = trace.spans.iter_mut().find(|s| s.streamed).unwrap();
        stream.timing.opened_us = Some(1_500);
        for (part, offset) in stream.parts.iter_mut().zip(recorded_parts) {
            part.offset_us = offset;
        }
        stream.timing.first_part_us = Some(1_500);
        stream.timing.ttft_us = Some(2_999);
        stream.timing.duration_us = 8_400;
        let generate = trace
            .spans
            .iter_mut()
            .find(|s| s.is_llm() && !s.streamed)
            .unwrap();
        generate.timing.duration_us = 2_500;

        let again = Collector::new();
        let replaying = Recorder::new(Player::from_traces("t", [trace.clone()]), again.clone());
        with_span("t", 0, async {
            let mut parts = replaying.stream(req("s")).await.unwrap();
            while parts.next().await.is_some() {}
            replaying.generate(req("g")).await.unwrap();
        })
        .await;
        let replayed = again.take().remove(0);

        let check = |what: &str, old: u64, new: u64| {
            assert!(
                new >= old,
                "{what}: replayed at {new}µs, before the recorded {old}µs"
            );
            assert!(
                new - old < 1_000,
                "{what}: replayed at {new}µs, a millisecond or more after {old}µs"
            );
            assert_eq!(
                new,
                old.div_ceil(1_000) * 1_000,
                "{what}: rounded up to the millisecond"
            );
        };
        let (old, new) = (&trace.spans[1], &replayed.spans[1]);
        check(
            "opened",
            old.timing.opened_us.unwrap(),
            new.timing.opened_us.unwrap(),
        );
        check(
            "ttft",
            old.timing.ttft_us.unwrap(),
            new.timing.ttft_us.unwrap(),
        );
        check("duration", old.timing.duration_us, new.timing.duration_us);
        for (a, b) in old.parts.iter().zip(&new.parts) {
            check("part", a.offset_us, b.offset_us);
        }
        assert_eq!(new.parts.len(), 5);
        let (old, new) = (&trace.spans[2], &replayed.spans[2]);
        check("generate", old.timing.duration_us, new.timing.duration_us);
    });
}

/// Offsets (µs) of the ten groups of 100 parts in
/// `a_thousand_parts_at_ten_offsets_arrive_at_their_rounded_up_deadlines`:
/// several round up to the same millisecond tick, as a real-clock
/// recording's do.
const TEN_OFFSETS: [u64; 10] = [
    1_500, 2_300, 2_999, 3_000, 7_001, 7_002, 7_999, 12_000, 12_001, 40_250,
];

/// A recorded stream of 1,000 parts, 100 at each of [`TEN_OFFSETS`],
/// opened at 1 ms and ended at the last part.
async fn thousand_parts_at_ten_offsets() -> Trace {
    let script = (0..1_000).fold(Script::new().open_after(ms(1)), |s, i| {
        s.part(StreamPart::text(format!("t{i}")))
    });
    let mut trace = record(script, usize::MAX).await;
    let stream = trace.spans.iter_mut().find(|s| s.streamed).unwrap();
    assert_eq!(stream.parts.len(), 1_000);
    for (i, part) in stream.parts.iter_mut().enumerate() {
        part.offset_us = TEN_OFFSETS[i / 100];
    }
    stream.timing.opened_us = Some(1_000);
    stream.timing.first_part_us = Some(1_500);
    stream.timing.ttft_us = Some(1_500);
    stream.timing.duration_us = 40_250;
    trace
}

/// Parts due at the same instant share one timer, and none comes early or
/// late: each of 1,000 parts at 10 distinct offsets arrives, in order,
/// exactly at its offset rounded up to tokio's millisecond tick, and the
/// stream ends at the recorded end, rounded up the same way.
#[tokio::test(start_paused = true)]
async fn a_thousand_parts_at_ten_offsets_arrive_at_their_rounded_up_deadlines() {
    let trace = thousand_parts_at_ten_offsets().await;
    let player = Player::from_traces("t", [trace]);
    let t0 = Instant::now();
    let mut parts = player.stream(req("s")).await.unwrap();
    assert_eq!(t0.elapsed(), ms(1));
    let mut at_each_tick = std::collections::BTreeMap::<Duration, usize>::new();
    let mut i = 0;
    while let Some(part) = parts.next().await {
        let arrived = t0.elapsed();
        assert_eq!(part.unwrap(), StreamPart::text(format!("t{i}")), "in order");
        let recorded = TEN_OFFSETS[i / 100];
        let due = Duration::from_micros(recorded.div_ceil(1_000) * 1_000);
        assert_eq!(
            arrived, due,
            "part {i}, recorded at {recorded}µs: at its rounded-up deadline"
        );
        *at_each_tick.entry(arrived).or_default() += 1;
        i += 1;
    }
    assert_eq!(i, 1_000);
    assert_eq!(
        t0.elapsed(),
        ms(41),
        "ended at the recorded end, rounded up"
    );
    let ticks: Vec<(u64, usize)> = at_each_tick
        .into_iter()
        .map(|(t, n)| (t.as_millis() as u64, n))
        .collect();
    assert_eq!(
        ticks,
        [
            (2, 100),
            (3, 300),
            (8, 300),
            (12, 100),
            (13, 100),
            (41, 100)
        ]
    );
}
