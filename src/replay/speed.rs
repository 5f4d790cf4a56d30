use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::ReplayError;

/// How fast a [`Player`](crate::Player) re-emits recorded timing.
///
/// Under a paused tokio clock every setting is instant in wall time; the
/// setting decides what the *virtual* clock shows. The default,
/// [`as_recorded`](Speed::as_recorded), reproduces every recorded offset
/// exactly (rounded up to tokio's millisecond timer tick), so TTFT and
/// durations can be asserted. On the real clock, [`instant`](Speed::instant)
/// skips every wait and [`scaled`](Speed::scaled) stretches or shrinks them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Speed(Pace);

#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum Pace {
    Instant,
    #[default]
    AsRecorded,
    Scaled(f64),
}

/// The latest deadline playback ever sleeps to: past it, an offset is a
/// hand-edited absurdity and waiting for it would overflow the clock.
const LONGEST_WAIT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl Speed {
    /// No waiting: every part and answer comes at once.
    pub fn instant() -> Self {
        Self(Pace::Instant)
    }

    /// Every offset as recorded (the default).
    pub fn as_recorded() -> Self {
        Self(Pace::AsRecorded)
    }

    /// Every recorded offset multiplied by `factor`: `0.5` replays twice as
    /// fast, `2.0` half as fast, `0.0` is [`instant`](Speed::instant).
    ///
    /// # Errors
    /// [`ReplayError::InvalidSpeed`] for a negative, NaN or infinite factor.
    pub fn scaled(factor: f64) -> Result<Self, ReplayError> {
        if factor.is_finite() && factor >= 0.0 {
            Ok(Self(Pace::Scaled(factor)))
        } else {
            Err(ReplayError::InvalidSpeed { factor })
        }
    }

    /// Whether playback skips every wait.
    pub fn is_instant(&self) -> bool {
        matches!(self.0, Pace::Instant)
    }

    /// The instant a thing recorded `offset_us` after the call's start is
    /// due, for a call that started at `start`.
    pub fn deadline(&self, start: Instant, offset_us: u64) -> Instant {
        let wait = match self.0 {
            Pace::Instant => Duration::ZERO,
            Pace::AsRecorded => Duration::from_micros(offset_us),
            Pace::Scaled(factor) => {
                Duration::try_from_secs_f64(offset_us as f64 * factor / 1e6).unwrap_or(LONGEST_WAIT)
            }
        };
        start
            .checked_add(wait.min(LONGEST_WAIT))
            .unwrap_or(start + Duration::from_secs(365 * 24 * 3600))
    }

    /// Waits until [`deadline`](Speed::deadline); returns at once when instant.
    pub(crate) async fn wait(&self, start: Instant, offset_us: u64) {
        if !self.is_instant() {
            sleep_until(self.deadline(start, offset_us)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_the_pace() {
        let start = Instant::now();
        assert_eq!(
            Speed::as_recorded().deadline(start, 1_500),
            start + Duration::from_micros(1_500)
        );
        assert_eq!(Speed::instant().deadline(start, 1_500), start);
        let half = Speed::scaled(0.5).unwrap();
        assert_eq!(
            half.deadline(start, 2_000_000),
            start + Duration::from_secs(1)
        );
        assert_eq!(Speed::default(), Speed::as_recorded());
    }

    #[tokio::test(start_paused = true)]
    async fn absurd_offsets_do_not_overflow_the_clock() {
        let start = Instant::now();
        for speed in [Speed::as_recorded(), Speed::scaled(1e300).unwrap()] {
            assert!(speed.deadline(start, u64::MAX) > start + Duration::from_secs(3600));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn instant_never_sleeps() {
        let start = Instant::now();
        Speed::instant().wait(start, 10_000_000).await;
        assert_eq!(Instant::now(), start);
        Speed::as_recorded().wait(start, 10_000).await;
        assert_eq!(Instant::now(), start + Duration::from_millis(10));
    }

    #[test]
    fn bad_factors_are_typed_errors() {
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                Speed::scaled(bad),
                Err(ReplayError::InvalidSpeed { .. })
            ));
        }
    }
}
