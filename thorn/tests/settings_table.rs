//! The README's table of settings is the one made from the settings'
//! declarations (core's and every backend's).
#![cfg(all(feature = "redis", feature = "axum", feature = "postgres"))]

const BEGIN: &str = "<!-- settings table: made from the declarations, checked by thorn/tests/settings_table.rs -->\n";
const END: &str = "<!-- end of settings table -->";

#[test]
fn the_readme_table_is_made_from_the_declarations() {
    let readme = include_str!("../../README.md");
    let start = readme
        .find(BEGIN)
        .expect("the README marks its settings table")
        + BEGIN.len();
    let len = readme[start..]
        .find(END)
        .expect("the table's end is marked");
    let expected = thorn::config::setting::table(&thorn::settings());
    assert!(
        readme[start..start + len] == expected,
        "the README's settings table differs from the declarations; it should read:\n{expected}"
    );
    for name in ["THORN_DISPATCHER", "THORN_REDIS_URL", "THORN_REDIS_QUEUE"] {
        assert!(expected.contains(name), "{name} is declared");
    }
}
