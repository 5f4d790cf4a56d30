//! Bench 5: replay speed.
//!
//! A session of 1,000 chat turns, each one streamed call of 100 parts
//! (opened after 250 ms, a part every 20 ms), is recorded on the paused
//! clock. A `Player` then replays every turn, one after another, on one
//! thread (a current-thread runtime) whose clock is paused: each part is
//! re-emitted at its recorded offset with `sleep_until`, so the replay is
//! exact in virtual time and as fast as the runtime can fire timers in wall
//! time. Reported: parts per second of wall time, and the speed-up over the
//! recorded session's duration. `as_recorded` replays the turns one after
//! another, as `replay`/`Replayer` do by default; `concurrent` replays all
//! 1,000 at once on the same thread (`Replayer::concurrency(1000)`), so parts
//! due at the same virtual instant share one firing of the clock.
//!
//! Two references in the same run: `timer_floor` is tokio alone firing the
//! same 100,000 timers one after another on the paused clock (a bare
//! `sleep_until` per part: what an exact replay that waits for every part
//! costs), and `instant` replays with `Speed::instant()` (no timers at all).
//! `index` is what building the `Player` over the 1,000 traces costs once.
//!
//! `replay_real_clock` replays the same turns re-timed as a recorder on the
//! real clock stamps a hosted model's stream: offsets in whole, distinct
//! microseconds, the network delivering the events in bursts of 5 (a burst
//! every 20 ms, its parts stamped a few µs apart, the opening at 250.123 ms).
//! Parts that round up to the same millisecond tick share one timer there, so
//! the replay can beat the one-timer-per-part floor, measured on the same
//! offsets in the same run.
//!
//! Targets: at least 1,000,000 parts per second on one core; replay no
//! slower than tokio's timer floor (≥ 1.0× its rate); the real-clock stream
//! replayed at ≥ 2,000,000 parts/s.

mod common;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use tracedeck::replay::Speed;
use tracedeck::{Model, ModelRequest, Player, Trace};

use common::drain;
use common::report::{Report, human};
use common::session::{KEY, record_session, turn_request};

/// Turns in the recorded session.
const TRACES: usize = 1_000;
/// Parts per turn's call.
const PARTS: usize = 100;

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("building a paused current-thread runtime")
}

fn player(traces: &[Trace], speed: Speed) -> Player {
    Player::from_traces(KEY, traces.to_vec()).speed(speed)
}

/// Replays one turn; returns the parts served.
async fn replay_turn(player: &Player, req: ModelRequest) -> usize {
    let stream = player.stream(req).await.expect("every turn was recorded");
    drain(stream).await.expect("a recorded turn replays")
}

/// Replays every turn, one after another or all at once; returns the parts served.
async fn replay_session(player: &Player, requests: Vec<ModelRequest>, concurrent: bool) -> usize {
    if concurrent {
        let turns = requests.into_iter().map(|req| replay_turn(player, req));
        futures::future::join_all(turns).await.into_iter().sum()
    } else {
        let mut parts = 0;
        for req in requests {
            parts += replay_turn(player, req).await;
        }
        parts
    }
}

/// Times `iters` whole replays; each gets a fresh player and its requests
/// before the clock starts (a player serves each recording once).
// Out of line, so a profiler can single it out (callgrind --toggle-collect).
#[inline(never)]
fn timed_replays(
    rt: &tokio::runtime::Runtime,
    traces: &[Trace],
    requests: &[ModelRequest],
    (speed, concurrent): (Speed, bool),
    iters: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let player = player(traces, speed);
        let requests = requests.to_vec();
        let start = Instant::now();
        let parts = rt.block_on(replay_session(&player, requests, concurrent));
        total += start.elapsed();
        assert_eq!(parts, TRACES * PARTS);
    }
    total
}

/// Times `iters` runs of tokio alone waiting, one after another, for every
/// instant at which the replay emits a part: each turn's recorded part
/// offsets, from its own start.
// Out of line, so a profiler can single it out (callgrind --toggle-collect).
#[inline(never)]
fn timed_timer_floor(rt: &tokio::runtime::Runtime, traces: &[Trace], iters: u64) -> Duration {
    let offsets: Vec<Vec<Duration>> = traces
        .iter()
        .map(|t| {
            t.spans[1]
                .parts
                .iter()
                .map(|p| Duration::from_micros(p.offset_us))
                .collect()
        })
        .collect();
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let fired = rt.block_on(async {
            let mut fired = 0;
            for turn in &offsets {
                let call = tokio::time::Instant::now();
                for offset in turn {
                    tokio::time::sleep_until(call + *offset).await;
                    fired += 1;
                }
            }
            fired
        });
        total += start.elapsed();
        assert_eq!(fired, TRACES * PARTS);
    }
    total
}

/// The turns of `traces` re-timed as a recorder on the real clock stamps a
/// hosted model's stream: opened at 250,123 µs, then the parts in bursts of
/// 5 (one burst every 20 ms, as the network delivers several events per
/// read), each part of a burst stamped 2 to 4 µs after the one before, so
/// every offset is distinct. The stream ends 41 µs after its last part.
fn real_clock_turns(traces: &[Trace]) -> Vec<Trace> {
    const OPENED_US: u64 = 250_123;
    traces
        .iter()
        .map(|trace| {
            let mut trace = trace.clone();
            let call = &mut trace.spans[1];
            let mut offset = OPENED_US;
            for (j, part) in call.parts.iter_mut().enumerate() {
                offset += match j {
                    0 => 0,
                    j if j % 5 == 0 => 20_000 - 13,
                    j => 2 + (j as u64 % 3),
                };
                part.offset_us = offset;
            }
            call.timing.opened_us = Some(OPENED_US);
            call.timing.first_part_us = Some(OPENED_US);
            call.timing.ttft_us = call
                .parts
                .iter()
                .find(|p| p.part.is_content())
                .map(|p| p.offset_us);
            call.timing.duration_us = offset + 41;
            trace
        })
        .collect()
}

/// Tokio's millisecond timer rounds a deadline up to its next tick.
fn rounded_up(offset_us: u64) -> u64 {
    offset_us.div_ceil(1_000) * 1_000
}

/// Before timing: one replay on the paused clock gives back every recorded
/// part, in order, at its recorded offset rounded up to tokio's millisecond
/// tick (exactly the offset, for offsets in whole milliseconds), and takes
/// exactly as long in virtual time as the recorded turns, each rounded up
/// the same way. Returns that length.
fn check_replay(
    rt: &tokio::runtime::Runtime,
    traces: &[Trace],
    requests: &[ModelRequest],
) -> Duration {
    let player = player(traces, Speed::as_recorded());
    rt.block_on(async {
        let session_start = tokio::time::Instant::now();
        for (trace, req) in traces.iter().zip(requests) {
            let call = &trace.spans[1];
            let start = tokio::time::Instant::now();
            let mut stream = player.stream(req.clone()).await.unwrap();
            for recorded in &call.parts {
                let part = stream.next().await.expect("a recorded part").unwrap();
                assert_eq!(part, recorded.part);
                let offset = start.elapsed().as_micros() as u64;
                assert_eq!(
                    offset,
                    rounded_up(recorded.offset_us),
                    "replayed at its recorded offset"
                );
            }
            assert!(stream.next().await.is_none());
            assert_eq!(
                start.elapsed().as_micros() as u64,
                rounded_up(call.timing.duration_us),
                "ended at the recorded end"
            );
        }
        session_start.elapsed()
    })
}

/// The recorded session's length, and the real-clock turns' length on replay.
struct Lengths {
    session: Duration,
    real_clock: Duration,
}

fn replay(c: &mut Criterion) -> Lengths {
    let (traces, session) = record_session(TRACES, PARTS);
    let requests: Vec<ModelRequest> = (0..TRACES).map(turn_request).collect();
    let rt = paused_runtime();
    assert_eq!(
        check_replay(&rt, &traces, &requests),
        session,
        "the session's length, exactly"
    );
    let real = real_clock_turns(&traces);
    let real_clock = check_replay(&rt, &real, &requests);

    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements((TRACES * PARTS) as u64));
    for (name, how) in [
        ("as_recorded", (Speed::as_recorded(), false)),
        ("concurrent", (Speed::as_recorded(), true)),
        ("instant", (Speed::instant(), false)),
    ] {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| timed_replays(&rt, &traces, &requests, how, iters))
        });
    }
    group.bench_function(BenchmarkId::from_parameter("timer_floor"), |b| {
        b.iter_custom(|iters| timed_timer_floor(&rt, &traces, iters))
    });
    group.bench_function(BenchmarkId::from_parameter("index"), |b| {
        b.iter_with_large_drop(|| player(&traces, Speed::as_recorded()))
    });
    group.finish();

    let mut group = c.benchmark_group("replay_real_clock");
    group.sample_size(10);
    group.throughput(Throughput::Elements((TRACES * PARTS) as u64));
    group.bench_function(BenchmarkId::from_parameter("as_recorded"), |b| {
        b.iter_custom(|iters| {
            timed_replays(&rt, &real, &requests, (Speed::as_recorded(), false), iters)
        })
    });
    group.bench_function(BenchmarkId::from_parameter("timer_floor"), |b| {
        b.iter_custom(|iters| timed_timer_floor(&rt, &real, iters))
    });
    group.finish();
    Lengths {
        session,
        real_clock,
    }
}

fn main() {
    let mut report = Report::start("bench 5, replay");
    let mut criterion = Criterion::default().configure_from_args();
    let Lengths {
        session,
        real_clock,
    } = replay(&mut criterion);
    criterion.final_summary();

    let parts = (TRACES * PARTS) as f64;
    report.note(&format!(
        "session: {TRACES} turns × {PARTS} parts, recorded over {} of (virtual) time",
        human(session.as_nanos() as f64)
    ));
    for (label, id) in [
        (
            "replay on the paused clock, turns one after another",
            "replay/as_recorded",
        ),
        (
            "replay on the paused clock, all turns at once",
            "replay/concurrent",
        ),
    ] {
        if let Some(rate) = report.rate(label, id, parts, "parts") {
            report.target("≥ 1,000,000 parts/s on one core", rate >= 1e6);
            let wall = parts / rate;
            report.note(&format!(
                "  speed-up over the recorded session: {:.0}× ({} of wall time for {} recorded)",
                session.as_secs_f64() / wall,
                human(wall * 1e9),
                human(session.as_nanos() as f64),
            ));
        }
    }
    report.rate(
        "tokio alone firing the same timers (the floor)",
        "replay/timer_floor",
        parts,
        "timers",
    );
    if let Some(pair) = report.compare(
        "replay one after another vs that floor",
        "replay/timer_floor",
        "replay/as_recorded",
        Some((parts, "part")),
    ) {
        report.note(&format!(
            "  replay rate / floor rate: {:.3}×",
            1.0 / pair.ratio()
        ));
        report.target(
            "≥ 1.0× tokio's timer floor (replay no slower)",
            pair.ratio() <= 1.0,
        );
    }
    report.rate(
        "replay, Speed::instant (no timers)",
        "replay/instant",
        parts,
        "parts",
    );
    report.note(&format!(
        "real-clock turns: offsets in distinct µs, bursts of 5 parts every 20 ms; \
         replayed in {} of (virtual) time",
        human(real_clock.as_nanos() as f64)
    ));
    if let Some(rate) = report.rate(
        "real-clock turns replayed on the paused clock, one after another",
        "replay_real_clock/as_recorded",
        parts,
        "parts",
    ) {
        report.target("≥ 2,000,000 parts/s", rate >= 2e6);
    }
    report.rate(
        "tokio alone, one sleep_until per part of the real-clock turns (the floor)",
        "replay_real_clock/timer_floor",
        parts,
        "timers",
    );
    if let Some(pair) = report.compare(
        "real-clock replay vs that floor",
        "replay_real_clock/timer_floor",
        "replay_real_clock/as_recorded",
        Some((parts, "part")),
    ) {
        report.note(&format!(
            "  replay rate / floor rate: {:.3}×",
            1.0 / pair.ratio()
        ));
        report.target(
            "≥ 1.0× tokio's timer floor (replay no slower)",
            pair.ratio() <= 1.0,
        );
    }
    if let Some(ns) = report.nanos("replay/index") {
        report.note(&format!(
            "building the Player over {TRACES} traces (once per test): {}",
            human(ns)
        ));
    }
    report.print();
}
