//! The behaviour suite, run against the `"default"` backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use thorn_core::{Registry, Thorn};
use thorn_testkit::suite::{Harness, Suite};

fn suite() -> Suite {
    Suite::new(thorn_inline::NAME, |config| {
        Box::pin(async move {
            let mut registry = Registry::new();
            thorn_inline::register(&mut registry);
            Ok(Harness::new(Thorn::new(config, &registry)?))
        })
    })
}

thorn_testkit::behaviour_tests!(suite());
