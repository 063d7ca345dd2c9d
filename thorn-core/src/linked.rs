//! Backends that join every [`Registry::linked`] by being linked into the
//! program: a backend crate says `thorn_core::link_backend!(register);`
//! once, and [`Thorn::from_env`](crate::Thorn::from_env) then finds it
//! with no list of backends written anywhere.
//!
//! Registration happens when the program starts, for every crate linked
//! into it. A crate is linked when the program names it or a crate that
//! depends on it: naming the `thorn` crate links the backends of its
//! enabled features. A backend crate the program never names (only its
//! registration is wanted) needs a `use my_backend as _;` somewhere.
//! A backend registered both ways, or by two crates under one name, is
//! built by whichever registration runs last: give each backend its own
//! name.

use crate::registry::Registry;

/// One entry of the program-wide list of linked backends: a function that
/// registers a backend, or a hint for a backend that is not linked.
///
/// Made by [`link_backend!`](crate::link_backend) and
/// [`link_hint!`](crate::link_hint).
#[derive(Debug)]
pub struct Linked(Kind);

#[derive(Debug)]
enum Kind {
    Backend(fn(&mut Registry)),
    Hint {
        name: &'static str,
        how: &'static str,
    },
}

impl Linked {
    /// A backend that `install` registers.
    pub const fn backend(install: fn(&mut Registry)) -> Self {
        Linked(Kind::Backend(install))
    }

    /// A hint: what to do to get the backend `name`, said when it is asked
    /// for and not registered (see [`Registry::hint`]).
    pub const fn hint(name: &'static str, how: &'static str) -> Self {
        Linked(Kind::Hint { name, how })
    }
}

inventory::collect!(Linked);

/// Adds a backend to every [`Registry::linked`] of the program this crate
/// is linked into. `install` is a `fn(&mut Registry)` that registers it.
///
/// ```
/// use thorn_core::{Config, Registry, disabled::Disabled};
///
/// pub fn register(registry: &mut Registry) {
///     registry.register("quiet", |_: &Config| Ok(Disabled::default()));
/// }
/// thorn_core::link_backend!(register);
///
/// assert!(Registry::linked().contains("quiet"));
/// ```
#[macro_export]
macro_rules! link_backend {
    ($install:path) => {
        $crate::linked::__inventory::submit! {
            $crate::Linked::backend($install)
        }
    };
}

/// Adds a hint to every [`Registry::linked`]: how to get the backend
/// `name` when it is not linked. A linked backend of that name wins.
///
/// ```
/// use thorn_core::{Config, Registry};
///
/// thorn_core::link_hint!("queue", "enable the \"queue\" feature of the app crate");
///
/// let err = Registry::linked().build_named("queue", &Config::default()).unwrap_err();
/// assert!(err.to_string().contains("enable the \"queue\" feature"), "{err}");
/// ```
#[macro_export]
macro_rules! link_hint {
    ($name:expr, $how:expr) => {
        $crate::linked::__inventory::submit! {
            $crate::Linked::hint($name, $how)
        }
    };
}

#[doc(hidden)]
pub use inventory as __inventory;

impl Registry {
    /// [`Registry::new`] plus every backend linked into the program
    /// ([`link_backend!`](crate::link_backend)) and the hints for those
    /// that are not ([`link_hint!`](crate::link_hint)). With the `thorn`
    /// crate, that is the backends of its enabled features.
    pub fn linked() -> Self {
        let mut registry = Registry::new();
        let all = || inventory::iter::<Linked>.into_iter();
        for linked in all() {
            if let Kind::Hint { name, how } = linked.0 {
                registry.hint(name, how);
            }
        }
        for linked in all() {
            if let Kind::Backend(install) = linked.0 {
                install(&mut registry);
            }
        }
        registry
    }
}
