//! Why a call found no recording, told so that the reader knows what changed
//! and what to do next.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

use super::Player;
use super::player::{AbsentKey, RecordedCall};
use crate::cassette::key_distance;
use crate::json::{JsonChange, diff_json};
use crate::model::ModelError;

/// The most changed paths a miss lists before it summarizes the rest.
const MAX_LISTED_CHANGES: usize = 12;
/// The most keys a miss of a whole-store player lists.
const MAX_LISTED_KEYS: usize = 10;
/// The most paths a miss suggests ignoring.
const MAX_SUGGESTED_PATHS: usize = 4;

/// Which API is playing back, so a miss names what that API reads: only
/// [`CassetteModel`](super::CassetteModel) (through
/// [`Mode::from_env`](super::Mode::from_env)) reads `TRACEDECK_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlaybackApi {
    /// A [`Player`] used directly.
    Player,
    /// A [`replay`](super::replay()) or [`Replayer`](super::Replayer) run.
    Replay,
    /// A [`CassetteModel`](super::CassetteModel) in `Replay` mode.
    CassetteModel {
        /// Whether its mode came from the environment (no `.mode(..)` given).
        mode_from_env: bool,
    },
    /// The cassette of a `#[tracedeck::test]`.
    #[cfg_attr(not(feature = "macros"), allow(dead_code))]
    TestMacro {
        /// Whether the attribute pins the mode (`mode = ..`), so
        /// `TRACEDECK_MODE` is not read.
        mode_pinned: bool,
        /// Whether the attribute names a live model (`live = ..`).
        live_given: bool,
    },
}

impl PlaybackApi {
    /// What to do to record the call, in the terms of this API.
    pub(crate) fn record_hint(self) -> &'static str {
        match self {
            Self::Player => {
                "This `Player` only replays the recordings it was given (it reads no \
                 environment variable): to record the call, run the code once against the \
                 live model wrapped in a `Recorder` (or in a `CassetteModel` in `Mode::Auto`), \
                 then build the player from the new recording."
            }
            Self::Replay => {
                "`replay()` and `Replayer` only replay what is recorded (they read no \
                 environment variable): to record the call, run the code once against the \
                 live model wrapped in a `Recorder` or a `CassetteModel` in `Mode::Auto`; \
                 to see what the live model answers now for every recorded input, use \
                 `Replayer::live(model)`."
            }
            Self::CassetteModel {
                mode_from_env: true,
            } => {
                "To record it, run with TRACEDECK_MODE=auto (replays what is recorded, records \
                 the rest) or TRACEDECK_MODE=record (records everything again)."
            }
            Self::CassetteModel {
                mode_from_env: false,
            } => {
                "This `CassetteModel` was given its mode in code, so TRACEDECK_MODE is not read: \
                 to record it, build it with `.mode(Mode::Auto)` (replays what is recorded, \
                 records the rest) or `.mode(Mode::Record)`, or leave `.mode(..)` out to let \
                 TRACEDECK_MODE choose."
            }
            Self::TestMacro {
                mode_pinned: false,
                live_given: true,
            } => {
                "To record it, run the test with TRACEDECK_MODE=auto (replays what is recorded, \
                 records the rest) or TRACEDECK_MODE=record (records everything again)."
            }
            Self::TestMacro {
                mode_pinned: true,
                live_given: true,
            } => {
                "This test pins its mode in the attribute (`mode = ..`), so TRACEDECK_MODE is not \
                 read: to record it, set `mode = \"auto\"` or `mode = \"record\"`, or leave \
                 `mode` out to let TRACEDECK_MODE choose."
            }
            Self::TestMacro {
                live_given: false, ..
            } => {
                "This test names no live model, so it can only replay: to record the call, give \
                 it one, `#[tracedeck::test(live = my_live_model())]` (any expression whose value \
                 implements `tracedeck::Model`; it is only evaluated when a call goes live), then \
                 run it with TRACEDECK_MODE=auto or TRACEDECK_MODE=record."
            }
        }
    }

    /// How the API is named in a miss.
    fn name(self) -> &'static str {
        match self {
            Self::Player => "a `Player`",
            Self::Replay => "a `replay()` run",
            Self::CassetteModel { .. } => "a `CassetteModel` in `Mode::Replay`",
            Self::TestMacro { .. } => "the cassette of a `#[tracedeck::test]`",
        }
    }
}

/// A call no recording answers; turned into a `CassetteMiss` only when the
/// caller needs the message (the `Auto` mode just calls the live model).
pub(crate) struct Miss {
    /// The request's playback hash.
    pub(crate) hash: String,
    /// The request as playback compared it.
    pub(crate) normalized: Value,
    pub(crate) reason: MissReason,
}

pub(crate) enum MissReason {
    /// No recording has this request.
    NotRecorded,
    /// Every recording of it has been served.
    Exhausted {
        times: usize,
        /// The trace of the first recording of it.
        trace: usize,
    },
    /// It was recorded as a `generate` call, and is now asked as a stream.
    RecordedAsGenerate { origin: String, trace: usize },
}

impl Miss {
    /// The `CassetteMiss` for this miss, its detail written for `player`.
    pub(crate) fn into_error(self, player: &Player) -> ModelError {
        let closest = match self.reason {
            MissReason::NotRecorded => self.closest(player),
            _ => None,
        };
        ModelError::CassetteMiss {
            key: self.key(player, closest.as_ref().map(|c| c.0)),
            detail: self.detail(player, closest),
        }
    }

    /// The key the miss names: the player's, or for a player over a whole
    /// store, the key of the recording the miss is about.
    fn key(&self, player: &Player, closest: Option<&RecordedCall>) -> String {
        if !player.is_whole_store() {
            return player.key().to_owned();
        }
        let about = match &self.reason {
            MissReason::NotRecorded => closest.map(|c| c.trace),
            MissReason::Exhausted { trace, .. } | MissReason::RecordedAsGenerate { trace, .. } => {
                Some(*trace)
            }
        };
        match about {
            Some(t) => player.recordings()[t].trace.key().to_owned(),
            None => "(none: the store has no recordings)".to_owned(),
        }
    }

    fn detail(&self, player: &Player, closest: Option<(&RecordedCall, Vec<JsonChange>)>) -> String {
        let within = match player.scope() {
            Some(t) => format!(" in {}", player.recordings()[t].origin),
            None => String::new(),
        };
        let mut out = format!(
            "request sha256 {} (played back by {})\n",
            self.hash,
            player.api().name()
        );
        if player.is_whole_store() && !player.recordings().is_empty() {
            let keys = player.recorded_keys();
            let mut listed: Vec<&str> = keys
                .iter()
                .take(MAX_LISTED_KEYS)
                .map(String::as_str)
                .collect();
            if keys.len() > MAX_LISTED_KEYS {
                listed.push("…");
            }
            let _ = writeln!(
                out,
                "Searched every key in the store ({}): {}",
                keys.len(),
                listed.join(", ")
            );
        }
        let mut suggested = Vec::new();
        let mut all_volatile = false;
        match &self.reason {
            MissReason::NotRecorded => match closest {
                None => match player.absent_key() {
                    Some(absent) => write_absent_key(&mut out, player.key(), absent),
                    None => {
                        let _ = writeln!(out, "There is no recorded model call{within}.");
                    }
                },
                Some((call, changes)) => {
                    suggested = volatile_paths(&changes);
                    all_volatile = changes
                        .iter()
                        .all(|c| !volatile_paths(std::slice::from_ref(c)).is_empty());
                    let _ = writeln!(
                        out,
                        "It differs from the closest recorded request ({}) in {} place(s):",
                        call.origin,
                        changes.len()
                    );
                    for change in changes.iter().take(MAX_LISTED_CHANGES) {
                        let _ = writeln!(out, "  {change}");
                    }
                    if changes.len() > MAX_LISTED_CHANGES {
                        let _ =
                            writeln!(out, "  … and {} more", changes.len() - MAX_LISTED_CHANGES);
                    }
                }
            },
            MissReason::Exhausted { times, .. } => {
                let _ = writeln!(
                    out,
                    "This request was recorded {times} time(s){within} and every recording has \
                     already been served: the code now makes it more often than when it was recorded.\n\
                     To serve the last recording again, build the player with `.allow_repeats()`."
                );
            }
            MissReason::RecordedAsGenerate { origin, .. } => {
                let _ = writeln!(
                    out,
                    "This request was recorded as a `generate` call ({origin}) and is now made with `stream`."
                );
            }
        }
        out.push_str(player.api().record_hint());
        if !suggested.is_empty() {
            let calls: String = suggested
                .iter()
                .map(|p| format!(".ignore_path(\"{p}\")?"))
                .collect();
            let _ = write!(
                out,
                "\nIf {} does not matter (it looks like an id, a time or metadata), leave it out of \
                 matching: `{}`.",
                if suggested.len() == 1 {
                    "that field"
                } else {
                    "those fields"
                },
                calls.trim_end_matches('?')
            );
            if !all_volatile {
                out.push_str(" The other differences would still miss.");
            }
        }
        out
    }

    /// The recorded request in scope that differs least from this one, with
    /// the differences: fewest differing leaf values first, then the most
    /// alike differing strings, then the earliest recorded.
    fn closest<'p>(&self, player: &'p Player) -> Option<(&'p RecordedCall, Vec<JsonChange>)> {
        player
            .scoped_calls()
            .map(|(_, call)| {
                // Normalized again here, not kept per call: misses are rare,
                // recordings many (issue 15 item 4).
                let changes = diff_json(&player.normalize(&call.span.input), &self.normalized);
                let distance = Distance::of(&changes);
                (call, changes, distance)
            })
            .min_by(|a, b| a.2.cmp(&b.2))
            .map(|(call, changes, _)| (call, changes))
    }
}

/// The most keys a miss suggests for a key with no cassette.
const MAX_NEARBY_KEYS: usize = 5;

/// Says that nothing is recorded under `key`, and which of the store's keys
/// are nearest to it (by edit distance): a typo'd or renamed key shows up
/// next to the key it meant.
fn write_absent_key(out: &mut String, key: &str, absent: &AbsentKey) {
    let _ = writeln!(
        out,
        "Nothing is recorded under key `{key}`: {} holds no cassette for it.",
        absent.dir.join(key).display()
    );
    let nearby = nearest_keys(key, &absent.store_keys, MAX_NEARBY_KEYS);
    if nearby.is_empty() {
        let _ = writeln!(
            out,
            "The store {} holds no cassettes at all.",
            absent.dir.display()
        );
    } else {
        let _ = writeln!(
            out,
            "Keys nearby in the store (of {}): {}",
            absent.store_keys.len(),
            nearby
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// Up to `max` of `keys`, nearest to `key` first (fewest single-character
/// edits, then alphabetical).
pub(crate) fn nearest_keys<'k>(key: &str, keys: &'k [String], max: usize) -> Vec<&'k str> {
    let mut ranked: Vec<(usize, &str)> = keys
        .iter()
        .filter(|k| k.as_str() != key)
        .map(|k| (key_distance(key, k), k.as_str()))
        .collect();
    ranked.sort();
    ranked.into_iter().take(max).map(|(_, k)| k).collect()
}

/// How far apart two requests are, from their [`JsonChange`]s; ordered so
/// that the smaller distance is the closer request.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Distance {
    /// Leaf values that differ (an added or removed object counts each of
    /// its leaves).
    leaves: usize,
    /// The sum over the changes of how unlike their two sides are, from 0
    /// (alike) to 1 (nothing in common) each.
    unlikeness: f64,
}

impl Distance {
    fn of(changes: &[JsonChange]) -> Self {
        Self {
            leaves: changes
                .iter()
                .map(|c| {
                    leaf_count(c.old.as_ref())
                        .max(leaf_count(c.new.as_ref()))
                        .max(1)
                })
                .sum(),
            unlikeness: changes
                .iter()
                .map(|c| 1.0 - similarity(c.old.as_ref(), c.new.as_ref()))
                .sum(),
        }
    }

    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.leaves
            .cmp(&other.leaves)
            .then(self.unlikeness.total_cmp(&other.unlikeness))
    }
}

/// How many scalar values `value` holds (an empty object or array is one).
fn leaf_count(value: Option<&Value>) -> usize {
    match value {
        None => 0,
        Some(Value::Object(map)) if !map.is_empty() => {
            map.values().map(|v| leaf_count(Some(v))).sum()
        }
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().map(|v| leaf_count(Some(v))).sum()
        }
        Some(_) => 1,
    }
}

/// How alike the two sides of a change are, from 0 to 1: for two strings,
/// the better of their shared-prefix ratio and their shared-word ratio
/// (Jaccard); anything else is 0.
fn similarity(old: Option<&Value>, new: Option<&Value>) -> f64 {
    let (Some(Value::String(a)), Some(Value::String(b))) = (old, new) else {
        return 0.0;
    };
    let longest = a.chars().count().max(b.chars().count());
    if longest == 0 {
        return 1.0;
    }
    let prefix = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let prefix_ratio = prefix as f64 / longest as f64;
    let words = |s: &str| -> BTreeSet<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let (wa, wb) = (words(a), words(b));
    let union = wa.union(&wb).count();
    let word_ratio = if union == 0 {
        0.0
    } else {
        wa.intersection(&wb).count() as f64 / union as f64
    };
    prefix_ratio.max(word_ratio)
}

/// Words in a field name that mark a value as volatile: it changes from run
/// to run without changing what is asked.
const VOLATILE_WORDS: &[&str] = &[
    "id",
    "ids",
    "uuid",
    "guid",
    "nonce",
    "seed",
    "timestamp",
    "ts",
    "time",
    "date",
    "datetime",
    "created",
    "updated",
    "expires",
    "metadata",
    "session",
    "trace",
    "span",
];

/// The paths among `changes` worth suggesting to ignore: a changed field
/// whose name looks volatile (an id, a time, a seed), or its outermost
/// volatile-looking parent (metadata), array indices written as `*`. Never a message, its content or
/// its text: a changed prompt is a real change.
fn volatile_paths(changes: &[JsonChange]) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for change in changes {
        // Indices generalized; names kept.
        let segments: Vec<&str> = change
            .path
            .split('/')
            .skip(1)
            .map(|s| if s.parse::<usize>().is_ok() { "*" } else { s })
            .collect();
        let names = || segments.iter().enumerate().filter(|(_, s)| **s != "*");
        // The changed field itself when its name looks volatile, else its
        // outermost volatile-looking parent (`/extra/metadata` for
        // `/extra/metadata/x`).
        let cut = match names().next_back() {
            Some((i, name)) if is_volatile_name(name) => Some(i),
            _ => names()
                .find(|(_, name)| is_volatile_name(name))
                .map(|(i, _)| i),
        };
        let Some(cut) = cut else { continue };
        let path = format!("/{}", segments[..=cut].join("/"));
        if !paths.contains(&path) && paths.len() < MAX_SUGGESTED_PATHS {
            paths.push(path);
        }
    }
    paths
}

/// Whether a field name (`request_id`, `createdAt`, `seed`) has a volatile word.
fn is_volatile_name(field: &str) -> bool {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in field.chars() {
        if !c.is_alphanumeric() {
            words.push(std::mem::take(&mut word));
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    words.push(word);
    words.iter().any(|w| VOLATILE_WORDS.contains(&w.as_str()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn distance_counts_leaves_then_how_alike_the_strings_are() {
        let base = json!({"text": "Where is my order A1002?"});
        let near = diff_json(&json!({"text": "Where is my order A1001?"}), &base);
        let far = diff_json(&json!({"text": "Do you sell gift cards?"}), &base);
        let wide = diff_json(
            &json!({"text": "Where is my order A1002?", "meta": {"a": 1, "b": 2}}),
            &base,
        );
        assert_eq!(near.len(), 1);
        assert_eq!(wide.len(), 1);
        assert_eq!(Distance::of(&wide).leaves, 2);
        assert!(Distance::of(&near).cmp(&Distance::of(&far)).is_lt());
        assert!(Distance::of(&far).cmp(&Distance::of(&wide)).is_lt());
    }

    #[test]
    fn nearest_keys_rank_by_edit_distance_then_name() {
        assert_eq!(crate::cassette::key_distance("kitten", "sitting"), 3);
        assert_eq!(crate::cassette::key_distance("", "abc"), 3);
        assert_eq!(crate::cassette::key_distance("same", "same"), 0);
        let keys: Vec<String> = ["suite/answers", "suite/answer", "suite/asks", "other/thing"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            nearest_keys("suite/answr", &keys, 2),
            ["suite/answer", "suite/answers"]
        );
        assert_eq!(nearest_keys("suite/answer", &keys, 10).len(), 3);
    }

    #[test]
    fn only_volatile_looking_fields_are_suggested() {
        let changes = diff_json(
            &json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}],
                    "extra": {"requestId": "1", "metadata": {"x": 1}, "user_tag": "u"},
                    "settings": {"seed": 1, "temperature": 0.1},
                    "tools": [{"call_id": "c1"}]}),
            &json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "b"}]},
                                 {"role": "user", "content": [{"type": "text", "text": "c"}]}],
                    "extra": {"requestId": "2", "metadata": {"x": 2}, "user_tag": "v"},
                    "settings": {"seed": 2, "temperature": 0.2},
                    "tools": [{"call_id": "c2"}]}),
        );
        assert_eq!(
            volatile_paths(&changes),
            [
                "/extra/metadata",
                "/extra/requestId",
                "/settings/seed",
                "/tools/*/call_id"
            ]
        );
        assert!(is_volatile_name("call_id"));
        assert!(is_volatile_name("createdAt"));
        assert!(!is_volatile_name("text"));
        assert!(!is_volatile_name("content"));
        assert!(!is_volatile_name("valid"));
    }
}
