//! Small text helpers shared by the commands: tables, sizes, previews.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// How many hex digits of a hash the commands show.
const SHORT_HASH: usize = 12;

/// The first twelve hex digits of `hash`: enough to name it to every command.
pub fn short_hash(hash: &str) -> &str {
    hash.get(..SHORT_HASH).unwrap_or(hash)
}

/// A byte count for people: `812 B`, `41.2 KiB`, `3.0 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The first instant RFC 3339 cannot write: the year 10000.
const YEAR_10000: Duration = Duration::from_secs(253_402_300_800);

/// A time as RFC 3339 UTC to the second: `2025-01-31T09:30:00Z`; `None` for
/// a time RFC 3339 cannot write (before 1970 or from the year 10000), such as
/// the modification time of a file unpacked from an old archive.
pub fn timestamp(time: SystemTime) -> Option<String> {
    // humantime panics on a time before the epoch and fails from 10000 on.
    let since_epoch = time.duration_since(UNIX_EPOCH).ok()?;
    (since_epoch < YEAR_10000).then(|| humantime::format_rfc3339_seconds(time).to_string())
}

/// `value` as compact JSON on one line, cut to `max` characters.
pub fn preview(value: &Value, max: usize) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    cut(&text, max)
}

/// `text` on one line (newlines shown as `⏎`), cut to `max` characters with an ellipsis.
pub fn cut(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', "⏎");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut out: String = one_line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `n` and `noun`, plural unless `n` is 1.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// How a table column is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// Rows laid out in columns two spaces apart, with no trailing spaces.
pub fn table(rows: &[Vec<String>], align: &[Align]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            let pad = widths[c].saturating_sub(cell.chars().count());
            match align.get(c).copied().unwrap_or(Align::Left) {
                Align::Left => {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad));
                }
                Align::Right => {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_ls_h() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
    }

    #[test]
    fn tables_align_and_trim() {
        let rows = vec![
            vec!["KEY".to_owned(), "N".to_owned()],
            vec!["a".to_owned(), "10".to_owned()],
        ];
        assert_eq!(
            table(&rows, &[Align::Left, Align::Right]),
            "KEY   N\na    10\n"
        );
    }

    #[test]
    fn times_rfc_3339_cannot_write_have_no_timestamp() {
        let epoch = UNIX_EPOCH;
        assert_eq!(timestamp(epoch).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(timestamp(epoch - Duration::from_secs(1)), None);
        assert_eq!(timestamp(epoch + YEAR_10000), None);
        assert!(timestamp(epoch + YEAR_10000 - Duration::from_secs(1)).is_some());
    }

    #[test]
    fn previews_stay_on_one_line() {
        assert_eq!(cut("a\nb", 10), "a⏎b");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(short_hash("abc"), "abc");
    }
}
