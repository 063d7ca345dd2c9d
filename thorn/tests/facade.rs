//! The facade's registry holds every enabled backend.
#![allow(clippy::unwrap_used)]

#[test]
fn registry_holds_enabled_backends() {
    let registry = thorn::registry();
    let names: Vec<&str> = registry.names().collect();
    assert!(names.contains(&"disabled"), "{names:?}");
    // The recording backend is registered only where a test asks for it
    // (`thorn::testkit::recording::register`), never into this registry.
    assert!(!names.contains(&"recording"), "{names:?}");
    let err = registry
        .build_named("nope", &thorn::Config::default())
        .unwrap_err();
    assert!(err.to_string().contains("disabled"), "{err}");
}

#[test]
fn a_backend_whose_feature_is_off_says_which_feature_to_enable() {
    let registry = thorn::registry();
    let built = registry.build_named("redis", &thorn::Config::default());
    #[cfg(feature = "redis")]
    assert_eq!(built.unwrap().name(), "redis");
    #[cfg(not(feature = "redis"))]
    {
        let err = built.unwrap_err().to_string();
        assert!(err.contains("enable the \"redis\" feature"), "{err}");
    }
}

#[test]
fn python_thorn_s_celery_is_answered_with_redis() {
    let err = thorn::registry()
        .build_named("celery", &thorn::Config::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown dispatcher \"celery\"")
            && err.contains("Python Thorn's queue")
            && err.contains("THORN_DISPATCHER=redis"),
        "{err}"
    );
    #[cfg(not(feature = "redis"))]
    assert!(err.contains("enable the \"redis\" feature"), "{err}");
}

#[test]
fn a_hint_goes_once_the_name_is_registered() {
    let config = thorn::Config::default();
    let mut registry = thorn::Registry::new();
    registry.hint("queue", "add the queue crate");
    let err = registry.build_named("queue", &config).unwrap_err();
    assert!(
        err.to_string()
            .contains("to use \"queue\", add the queue crate"),
        "{err}"
    );
    registry.register("queue", |_: &thorn::Config| {
        Ok(thorn::disabled::Disabled::default())
    });
    assert_eq!(
        registry.build_named("queue", &config).unwrap().name(),
        "disabled"
    );
}

fn register_quiet(registry: &mut thorn::Registry) {
    registry.register("quiet", |_: &thorn::Config| {
        Ok(thorn::disabled::Disabled::default())
    });
}
thorn::link_backend!(register_quiet);

#[test]
fn a_linked_backend_is_found_by_the_builder_and_from_env() {
    // No registry given, no trait imported: the backends linked into this
    // test program are the ones `Thorn` builds from.
    let config = thorn::Config::builder()
        .dispatcher("quiet")
        .build()
        .unwrap();
    let thorn = thorn::Thorn::builder().config(config).build().unwrap();
    assert_eq!(thorn.dispatcher().name(), "disabled");
    assert!(thorn::registry().contains("quiet"));

    let named = std::env::var("THORN_DISPATCHER")
        .ok()
        .filter(|name| !name.is_empty());
    if named.is_none() {
        let built = thorn::Thorn::from_env();
        #[cfg(feature = "inline")]
        assert_eq!(built.unwrap().dispatcher().name(), "default");
        #[cfg(not(feature = "inline"))]
        assert!(
            built
                .unwrap_err()
                .to_string()
                .contains("enable the \"inline\" feature"),
        );
    }
}
