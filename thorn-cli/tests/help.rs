//! Each subcommand's `--help` lists its own options first, and the
//! options every subcommand takes under a heading of their own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::thorn;

/// The options of every subcommand.
const GLOBAL: [&str; 6] = [
    "--redis-url",
    "--queue",
    "--pg-url",
    "--ca-file",
    "--set",
    "--log-format",
];

#[tokio::test]
async fn global_options_have_a_heading_of_their_own() {
    for (command, own) in [
        (vec!["verify", "--help"], "--hmac"),
        (vec!["send", "--help"], "--require-match"),
        (vec!["dead", "list", "--help"], "--limit"),
        (vec!["subscriptions", "add", "--help"], "--owner"),
        (vec!["worker", "--help"], "--concurrency"),
    ] {
        let help = thorn(&command, &[]).await.ok();
        let (own_part, global_part) = help
            .split_once("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("{command:?} has a Global options heading:\n{help}"));
        assert!(own_part.contains(own), "{command:?}:\n{help}");
        for flag in GLOBAL {
            let listed = |text: &str| text.lines().any(|l| l.trim_start().starts_with(flag));
            assert!(
                listed(global_part) && !listed(own_part),
                "{flag} under Global options only, in {command:?}:\n{help}"
            );
        }
    }
}
