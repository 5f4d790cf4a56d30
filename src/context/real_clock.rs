//! Telling a real clock from a paused one across a live call.
//!
//! Spans are timed on `tokio::time::Instant` (contract 2), which is exactly
//! what a paused test clock should time a scripted or replayed call by. A
//! *live* call is different: its parts arrive in real time, and on a paused
//! clock tokio either stands still or, when the runtime is idle, jumps ahead
//! to its next timer (auto-advance). Either way the recorded times would be
//! invented. So across each live call the recorder reads both clocks at the
//! start and at the end and compares how far each moved.
//!
//! On a running clock tokio's instant is the real instant plus a constant,
//! so with the readings ordered as below tokio's elapsed time is never less
//! than the real one, and exceeds it by at most the real time spent between
//! the paired readings (measured, so a thread preempted between them is no
//! false alarm). Anything else means tokio's clock was paused.

use std::time::Duration;

use tokio::time::Instant;

/// The slack allowed on either side, for rounding.
const SLACK: Duration = Duration::from_micros(200);

/// Both clocks read together at the start of a live call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClockPair {
    tokio: Instant,
    /// Read after `tokio`.
    real: std::time::Instant,
    /// Real time spent around the tokio reading.
    gap: Duration,
}

/// How far each clock moved across a call whose tokio clock was paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PausedClock {
    /// Microseconds tokio's clock moved.
    pub tokio_us: u64,
    /// Microseconds that really passed.
    pub real_us: u64,
}

impl ClockPair {
    /// Reads tokio's clock, then the real one.
    pub(crate) fn start() -> Self {
        let before = std::time::Instant::now();
        let tokio = Instant::now();
        let real = std::time::Instant::now();
        Self {
            tokio,
            real,
            gap: real.saturating_duration_since(before),
        }
    }

    /// Reads the real clock, then tokio's, and says whether tokio's clock
    /// failed to follow real time since [`start`](ClockPair::start).
    pub(crate) fn paused_since(&self) -> Option<PausedClock> {
        let real_end = std::time::Instant::now();
        let tokio_end = Instant::now();
        let after = std::time::Instant::now();
        let tokio = tokio_end.saturating_duration_since(self.tokio);
        let real = real_end.saturating_duration_since(self.real);
        let allowed = real + self.gap + after.saturating_duration_since(real_end) + SLACK;
        let stood_still = tokio + SLACK < real;
        let jumped = tokio > allowed;
        (stood_still || jumped).then(|| PausedClock {
            tokio_us: micros(tokio),
            real_us: micros(real),
        })
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_clock_follows_real_time() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let pair = ClockPair::start();
            tokio::time::sleep(Duration::from_millis(2)).await;
            assert_eq!(pair.paused_since(), None);
        });
        // No runtime at all: tokio's instant is the real one.
        assert_eq!(ClockPair::start().paused_since(), None);
    }

    #[test]
    fn a_paused_clock_that_jumps_ahead_is_caught() {
        crate::testing::run_paused(async {
            let pair = ClockPair::start();
            // Auto-advance: 30 virtual seconds in no real time.
            tokio::time::sleep(Duration::from_secs(30)).await;
            let paused = pair.paused_since().expect("a jump is not real time");
            assert!(paused.tokio_us >= 30_000_000, "{paused:?}");
        });
    }
}
