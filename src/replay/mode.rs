use std::ffi::OsString;
use std::fmt;
use std::str::FromStr;

use super::ReplayError;

/// What a cassette in front of a live model does with each call (contract 8).
///
/// | mode | recorded call | call with no recording |
/// |---|---|---|
/// | `Replay` | served from the cassette | fails with `CassetteMiss` |
/// | `Record` | calls the live model, records it | calls the live model, records it |
/// | `Auto` | served from the cassette | calls the live model, records it |
/// | `Passthrough` | calls the live model | calls the live model |
///
/// [`Mode::from_env`] picks `Replay` when the `CI` variable is set (a CI run
/// must never reach the network or write cassettes) and `Auto` otherwise;
/// `TRACEDECK_MODE` overrides both.
///
/// ```
/// use tracedeck::Mode;
/// assert_eq!(Mode::resolve(None, Some("true")).unwrap(), Mode::Replay);
/// assert_eq!(Mode::resolve(None, None).unwrap(), Mode::Auto);
/// assert_eq!(Mode::resolve(Some("record"), Some("true")).unwrap(), Mode::Record);
/// assert!(Mode::resolve(Some("recrod"), None).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// Serve every call from the cassette; a call with no recording fails.
    Replay,
    /// Call the live model every time and record every call.
    Record,
    /// Serve what the cassette has; call the live model for the rest and record those.
    Auto,
    /// Call the live model; record and replay nothing.
    Passthrough,
}

impl Mode {
    /// The variable that overrides the default mode.
    pub const ENV_VAR: &'static str = "TRACEDECK_MODE";

    /// The mode for this process: `TRACEDECK_MODE` if set (and not empty),
    /// else `Replay` under CI, else `Auto`. See [`resolve`](Mode::resolve).
    ///
    /// # Errors
    /// [`ReplayError::InvalidMode`] when `TRACEDECK_MODE` names no mode.
    pub fn from_env() -> Result<Self, ReplayError> {
        Self::from_vars(std::env::var_os(Self::ENV_VAR), std::env::var_os("CI"))
    }

    /// [`resolve`](Mode::resolve) for the raw values of the variables: a
    /// `TRACEDECK_MODE` that is not UTF-8 names no mode (an error, not the
    /// default), and a `CI` that is not UTF-8 is set.
    fn from_vars(
        mode_var: Option<OsString>,
        ci_var: Option<OsString>,
    ) -> Result<Self, ReplayError> {
        let mode = match mode_var.map(OsString::into_string) {
            None => None,
            Some(Ok(mode)) => Some(mode),
            Some(Err(raw)) => {
                return Err(ReplayError::InvalidMode {
                    source_name: Self::ENV_VAR.to_owned(),
                    value: raw.to_string_lossy().into_owned(),
                });
            }
        };
        let ci = ci_var.map(|v| v.into_string().unwrap_or_else(|_| "set".to_owned()));
        Self::resolve(mode.as_deref(), ci.as_deref())
    }

    /// The mode for the given values of `TRACEDECK_MODE` and `CI`.
    ///
    /// `TRACEDECK_MODE` is matched case-insensitively and may be empty (same
    /// as unset). `CI` counts as set unless it is empty, `0` or `false`.
    ///
    /// # Errors
    /// [`ReplayError::InvalidMode`] when `mode_var` names no mode.
    pub fn resolve(mode_var: Option<&str>, ci_var: Option<&str>) -> Result<Self, ReplayError> {
        match mode_var.map(str::trim).filter(|v| !v.is_empty()) {
            Some(value) => parse(value, Self::ENV_VAR),
            None => Ok(Self::default_for(is_ci(ci_var))),
        }
    }

    /// The default without an override: `Replay` on CI, `Auto` elsewhere.
    pub fn default_for(ci: bool) -> Self {
        if ci { Self::Replay } else { Self::Auto }
    }

    /// Whether calls are served from recordings when they can be.
    pub fn replays(self) -> bool {
        matches!(self, Self::Replay | Self::Auto)
    }

    /// Whether live calls are recorded.
    pub fn records(self) -> bool {
        matches!(self, Self::Record | Self::Auto)
    }

    /// The mode's name as `TRACEDECK_MODE` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replay => "replay",
            Self::Record => "record",
            Self::Auto => "auto",
            Self::Passthrough => "passthrough",
        }
    }
}

fn is_ci(ci_var: Option<&str>) -> bool {
    ci_var.is_some_and(|v| {
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

fn parse(value: &str, source_name: &str) -> Result<Mode, ReplayError> {
    [Mode::Replay, Mode::Record, Mode::Auto, Mode::Passthrough]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(value.trim()))
        .ok_or_else(|| ReplayError::InvalidMode {
            source_name: source_name.to_owned(),
            value: value.to_owned(),
        })
}

impl FromStr for Mode {
    type Err = ReplayError;

    /// Parses `replay`, `record`, `auto` or `passthrough`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s, "mode")
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_defaults_to_replay_and_local_runs_to_auto() {
        for ci in ["true", "1", "yes", "TRUE"] {
            assert_eq!(
                Mode::resolve(None, Some(ci)).unwrap(),
                Mode::Replay,
                "CI={ci}"
            );
        }
        for not_ci in [None, Some(""), Some("0"), Some("false"), Some("False")] {
            assert_eq!(
                Mode::resolve(None, not_ci).unwrap(),
                Mode::Auto,
                "CI={not_ci:?}"
            );
        }
    }

    #[test]
    fn the_override_wins_in_any_case() {
        for (var, mode) in [
            ("replay", Mode::Replay),
            ("RECORD", Mode::Record),
            (" Auto ", Mode::Auto),
            ("passthrough", Mode::Passthrough),
        ] {
            assert_eq!(Mode::resolve(Some(var), Some("true")).unwrap(), mode);
            assert_eq!(Mode::resolve(Some(var), None).unwrap(), mode);
        }
        assert_eq!(Mode::resolve(Some(""), Some("true")).unwrap(), Mode::Replay);
    }

    #[test]
    fn an_invalid_override_says_what_is_allowed() {
        let err = Mode::resolve(Some("recrod"), None).unwrap_err();
        assert!(
            matches!(&err, ReplayError::InvalidMode { source_name, value }
                if source_name == "TRACEDECK_MODE" && value == "recrod"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("TRACEDECK_MODE=`recrod`"), "{text}");
        assert!(text.contains("`auto`"), "{text}");
    }

    #[cfg(unix)]
    #[test]
    fn variables_that_are_not_utf8_are_an_error_or_set() {
        use std::os::unix::ffi::OsStringExt;
        let not_utf8 = || Some(OsString::from_vec(vec![b'r', 0xff]));
        assert!(matches!(
            Mode::from_vars(not_utf8(), None),
            Err(ReplayError::InvalidMode { value, .. }) if value == "r\u{fffd}"
        ));
        assert_eq!(Mode::from_vars(None, not_utf8()).unwrap(), Mode::Replay);
        assert_eq!(
            Mode::from_vars(Some("record".into()), not_utf8()).unwrap(),
            Mode::Record
        );
    }

    #[test]
    fn names_round_trip() {
        for mode in [Mode::Replay, Mode::Record, Mode::Auto, Mode::Passthrough] {
            assert_eq!(mode.to_string().parse::<Mode>().unwrap(), mode);
        }
        assert!(Mode::Auto.replays() && Mode::Auto.records());
        assert!(!Mode::Passthrough.replays() && !Mode::Passthrough.records());
    }
}
