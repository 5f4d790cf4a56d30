//! The README stays true: its setup commands come first, and it carries the
//! cassette format specification exactly as `docs/cassette-format.md` (which
//! `tests/storage/format_doc.rs` checks against real recordings) states it.
//! Its Rust code blocks are compiled as doctests (`ReadmeDoctests` in `lib.rs`).

const README: &str = include_str!("../../README.md");
const FORMAT: &str = include_str!("../../docs/cassette-format.md");

#[test]
fn the_two_setup_commands_come_first() {
    let first_block = README
        .split("```")
        .nth(1)
        .expect("the README has a code block");
    assert!(first_block.starts_with("sh\n"), "{first_block}");
    let commands: Vec<&str> = first_block
        .lines()
        .skip(1)
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(commands, ["cargo run --example quickstart", "cargo test"]);
}

#[test]
fn the_readme_carries_the_cassette_format_verbatim() {
    assert!(
        README.contains(FORMAT.trim_end()),
        "copy docs/cassette-format.md into the README's last section again"
    );
}
