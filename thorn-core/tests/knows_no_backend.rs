//! Core knows no backend: no backend's name or setting appears in its
//! source, besides the built-in "default" and "disabled". Backends declare
//! their own settings and read them from the config.

use std::path::Path;

const BACKENDS: &[&str] = &["redis", "postgres", "inline", "recording", "outbox"];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("thorn-core's sources are readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_backend_name_or_setting_in_core() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("Cargo.toml"), root.join("README.md")];
    sources(&root.join("src"), &mut files);
    assert!(files.len() > 10, "found {} files", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file)
            .expect("readable")
            .to_ascii_lowercase();
        for name in BACKENDS {
            assert!(
                !text.contains(name),
                "{} mentions the backend {name:?}",
                file.display()
            );
        }
    }
}
