use std::future::Future;

/// Runs `fut` to completion on a fresh single-threaded runtime whose clock
/// starts paused: timers fire in virtual time, instantly and exactly.
///
/// For synchronous contexts such as proptest bodies and doctests; in an async
/// test use `#[tokio::test(start_paused = true)]` instead.
///
/// ```
/// use std::time::Duration;
/// let waited = tracedeck::testing::run_paused(async {
///     let start = tokio::time::Instant::now();
///     tokio::time::sleep(Duration::from_secs(3600)).await;
///     start.elapsed()
/// });
/// assert_eq!(waited, Duration::from_secs(3600));
/// ```
///
/// # Panics
/// If called from inside a tokio runtime, or if the runtime cannot be built.
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub fn run_paused<F: Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("building a current-thread tokio runtime")
        .block_on(fut)
}
