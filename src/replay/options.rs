use super::ignored_path::IgnoredPath;
use super::request_matcher::RequestMatcher;
use super::{ReplayError, Speed};
use crate::cassette::Redaction;

/// How recordings are played back: which request paths to ignore when
/// matching, whether a request may be served more often than recorded, the
/// pace, the redaction applied to live requests, and whether a replay may
/// leave recorded calls unused.
///
/// One value holds them for every way of playing back: pass it to
/// [`Player::with_options`](super::Player::with_options),
/// [`Replayer::options`](super::Replayer::options) or
/// [`CassetteModelBuilder::options`](super::CassetteModelBuilder::options).
/// Their sentence-like methods (`ignore_path`, `allow_repeats`, `speed`)
/// change the same options.
///
/// ```
/// use tracedeck::replay::{PlaybackOptions, Speed};
/// let options = PlaybackOptions::new()
///     .ignore_path("/settings/seed")?
///     .ignore_path("/messages/*/content/*/call_id")?
///     .allow_repeats()
///     .fail_on_unused_calls()
///     .speed(Speed::instant());
/// assert_eq!(
///     options.ignored_paths().collect::<Vec<_>>(),
///     ["/settings/seed", "/messages/*/content/*/call_id"]
/// );
/// assert!(options.repeats_allowed());
/// assert!(options.unused_calls_fail());
/// assert!(options.pace().is_instant());
/// # Ok::<(), tracedeck::replay::ReplayError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct PlaybackOptions {
    ignored: Vec<IgnoredPath>,
    redaction: Option<Redaction>,
    allow_repeats: bool,
    speed: Speed,
    fail_on_unused: bool,
}

impl PlaybackOptions {
    /// Nothing ignored, no repeats, as recorded, the store's redaction,
    /// unused recorded calls allowed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves the value at `pointer` (RFC 6901, `*` matching any key or
    /// index) out of both the recorded and the live request when matching
    /// them, e.g. `/settings/seed` or `/messages/*/content/*/call_id`.
    ///
    /// The value is removed on both sides before hashing, so a field present
    /// on one side only matches too. Objects along the path that are left
    /// empty are removed as well (`{}` and absent mean the same in a
    /// request).
    ///
    /// # Errors
    /// [`ReplayError::InvalidIgnoredPath`] for a pointer that does not start
    /// with `/`, for the empty pointer (it would make every call match every
    /// recording), and for a `~` not followed by `0` or `1`.
    pub fn ignore_path(mut self, pointer: &str) -> Result<Self, ReplayError> {
        self.ignored.push(IgnoredPath::parse(pointer)?);
        Ok(self)
    }

    /// Serves the last recording of a request again once every recording of
    /// it has been served, instead of failing with a miss.
    pub fn allow_repeats(mut self) -> Self {
        self.allow_repeats = true;
        self
    }

    /// Fails a replayed trace that left some of its recorded calls unused
    /// (the changed program makes fewer calls than the recorded one), naming
    /// each unused call. The default is lenient: fewer calls show up as
    /// removed spans of a changed trace.
    ///
    /// Applies to replay runs ([`replay`](super::replay()) and
    /// [`Replayer`](super::Replayer)), which know when a trace is done; a
    /// [`Player`](super::Player) lists what it has not served with
    /// [`Player::unused_calls`](super::Player::unused_calls).
    pub fn fail_on_unused_calls(mut self) -> Self {
        self.fail_on_unused = true;
        self
    }

    /// Whether a replayed trace fails when recorded calls are left unused
    /// (see [`fail_on_unused_calls`](Self::fail_on_unused_calls)).
    pub fn unused_calls_fail(&self) -> bool {
        self.fail_on_unused
    }

    /// Sets the pace of playback (default: as recorded).
    pub fn speed(mut self, speed: Speed) -> Self {
        self.speed = speed;
        self
    }

    /// Redacts live requests with `redaction` before matching them, instead
    /// of the store's redaction (or none, for traces not loaded from a
    /// store).
    pub fn redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = Some(redaction);
        self
    }

    /// The ignored paths, as given.
    pub fn ignored_paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.ignored.iter().map(IgnoredPath::as_str)
    }

    /// Whether a request may be served more often than it was recorded.
    pub fn repeats_allowed(&self) -> bool {
        self.allow_repeats
    }

    /// The pace of playback.
    pub fn pace(&self) -> Speed {
        self.speed
    }

    /// The redaction set with [`redaction`](Self::redaction), if any.
    pub fn redaction_override(&self) -> Option<&Redaction> {
        self.redaction.as_ref()
    }

    /// The matcher for recordings whose own redaction is `source`: this
    /// redaction if set, else `source`, and these ignored paths.
    pub(crate) fn matcher(&self, source: &Redaction) -> RequestMatcher {
        RequestMatcher {
            redaction: self.redaction.clone().unwrap_or_else(|| source.clone()),
            ignored: self.ignored.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_matcher_prefers_the_set_redaction_and_removes_ignored_paths() {
        let store = Redaction::new().path("/a");
        let request = json!({"a": "x", "b": "y", "seed": 1});

        let plain = PlaybackOptions::new().ignore_path("/seed").unwrap();
        assert_eq!(
            plain.matcher(&store).normalize(&request),
            json!({"a": "[REDACTED]", "b": "y"})
        );

        let own = plain.redaction(Redaction::new().path("/b"));
        assert_eq!(
            own.matcher(&store).normalize(&request),
            json!({"a": "x", "b": "[REDACTED]"})
        );
        assert!(own.redaction_override().is_some());
    }

    #[test]
    fn a_bad_path_is_a_typed_error() {
        assert!(matches!(
            PlaybackOptions::new().ignore_path("seed"),
            Err(ReplayError::InvalidIgnoredPath { .. })
        ));
    }
}
