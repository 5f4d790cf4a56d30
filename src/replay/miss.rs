//! Why a call found no recording, told so that the reader knows what changed
//! and what to do next.

use std::fmt::Write as _;

use serde_json::Value;

use super::Player;
use crate::json::{JsonChange, diff_json};
use crate::model::ModelError;

/// The most changed paths a miss lists before it summarizes the rest.
const MAX_LISTED_CHANGES: usize = 12;

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
    Exhausted { times: usize },
    /// It was recorded as a `generate` call, and is now asked as a stream.
    RecordedAsGenerate { origin: String },
}

impl Miss {
    /// The `CassetteMiss` for this miss, its detail written for `player`.
    pub(crate) fn into_error(self, player: &Player) -> ModelError {
        ModelError::CassetteMiss {
            key: player.key().to_owned(),
            detail: self.detail(player),
        }
    }

    fn detail(&self, player: &Player) -> String {
        let within = match player.scope() {
            Some(t) => format!(" in {}", player.recordings()[t].origin),
            None => String::new(),
        };
        let mut out = format!("request sha256 {}\n", self.hash);
        let mut first_path = None;
        match &self.reason {
            MissReason::NotRecorded => match self.closest(player) {
                None => {
                    let _ = writeln!(out, "There is no recorded model call{within}.");
                }
                Some((origin, changes)) => {
                    first_path = changes.first().map(|c| c.path.clone());
                    let _ = writeln!(
                        out,
                        "It differs from the closest recorded request ({origin}) in {} place(s):",
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
            MissReason::Exhausted { times } => {
                let _ = writeln!(
                    out,
                    "This request was recorded {times} time(s){within} and every recording has \
                     already been served: the code now makes it more often than when it was recorded.\n\
                     To serve the last recording again, build the player with `.allow_repeats()`."
                );
            }
            MissReason::RecordedAsGenerate { origin } => {
                let _ = writeln!(
                    out,
                    "This request was recorded as a `generate` call ({origin}) and is now made with `stream`."
                );
            }
        }
        out.push_str(
            "To record it, run with TRACEDECK_MODE=auto (replays what is recorded, records the rest) \
             or TRACEDECK_MODE=record (records everything again).",
        );
        if let Some(path) = first_path.filter(|p| !p.is_empty()) {
            let _ = write!(
                out,
                "\nIf that difference does not matter, leave it out of matching: `.ignore_path(\"{path}\")`."
            );
        }
        out
    }

    /// The recorded request in scope that differs from this one in the
    /// fewest paths (the earliest on a tie), with those differences.
    fn closest<'p>(&self, player: &'p Player) -> Option<(&'p str, Vec<JsonChange>)> {
        player
            .scoped_calls()
            .map(|(_, call)| (&*call.origin, diff_json(&call.normalized, &self.normalized)))
            .min_by_key(|(_, changes)| changes.len())
    }
}
