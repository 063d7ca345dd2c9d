//! The facade with feature `redis`: the backend is registered by name.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn the_registry_holds_redis() {
    let registry = thorn::registry();
    assert!(registry.contains(thorn::redis::NAME));
    let config = thorn::Config::builder()
        .dispatcher("redis")
        .build()
        .unwrap();
    // Building connects to nothing yet.
    let dispatcher = registry.build(&config).unwrap();
    assert_eq!(dispatcher.name(), "redis");
}
