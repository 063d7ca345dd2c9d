//! The facade's registry holds every enabled backend.
#![allow(clippy::unwrap_used)]

#[test]
fn registry_holds_enabled_backends() {
    let registry = thorn::registry();
    let names: Vec<&str> = registry.names().collect();
    assert!(names.contains(&"disabled"), "{names:?}");
    #[cfg(feature = "testkit")]
    assert!(names.contains(&"recording"), "{names:?}");
    let err = registry
        .build_named("nope", &thorn::Config::default())
        .unwrap_err();
    assert!(err.to_string().contains("disabled"), "{err}");
}
