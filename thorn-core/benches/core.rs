//! Benchmarks of matching and signing.
fn main() {}
