//! The backend registry: a name → a factory that builds a dispatcher.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::config::Config;
use crate::disabled::{self, Disabled};
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result};

/// Builds a dispatcher from the config.
pub type Factory = Arc<dyn Fn(&Config) -> Result<Arc<dyn Dispatcher>> + Send + Sync>;

/// Maps backend names to factories. [`Registry::new`] holds `"disabled"`;
/// backend crates add theirs with a `register` function, and users add their
/// own with [`Registry::register`].
///
/// ```
/// use std::sync::Arc;
/// use thorn_core::{Config, Registry, disabled::Disabled};
/// let mut registry = Registry::new();
/// registry.register("quiet", |_config: &Config| Ok(Disabled::default()));
/// assert_eq!(registry.names().collect::<Vec<_>>(), ["disabled", "quiet"]);
/// let err = registry.build_named("nope", &Config::default()).unwrap_err();
/// assert!(err.to_string().contains("disabled, quiet"));
/// ```
#[derive(Clone)]
pub struct Registry {
    factories: BTreeMap<String, Factory>,
    /// Backends known by name but not registered, with how to get them.
    hints: BTreeMap<String, String>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.factories.keys()).finish()
    }
}

impl Registry {
    /// A registry holding the built-in `"disabled"` backend.
    pub fn new() -> Self {
        let mut r = Registry {
            factories: BTreeMap::new(),
            hints: BTreeMap::new(),
        };
        r.register(disabled::NAME, |_: &Config| Ok(Disabled::default()));
        r
    }

    /// Registers (or replaces) the backend `name`, built by `factory` from
    /// the config: any concrete [`Dispatcher`] (an `Arc` of one shares a
    /// single instance).
    pub fn register<D, F>(&mut self, name: impl Into<String>, factory: F) -> &mut Self
    where
        D: Dispatcher + 'static,
        F: Fn(&Config) -> Result<D> + Send + Sync + 'static,
    {
        let factory: Factory =
            Arc::new(move |config| factory(config).map(|d| Arc::new(d) as Arc<dyn Dispatcher>));
        let name = name.into();
        self.hints.remove(&name);
        self.factories.insert(name, factory);
        self
    }

    /// Names a backend that is not registered here and says how to get it
    /// (say, `enable the "queue" feature of the app crate`), so that
    /// asking for it explains instead of only listing what is registered.
    /// Registering the name later drops the hint.
    pub fn hint(&mut self, name: impl Into<String>, how: impl Into<String>) -> &mut Self {
        let name = name.into();
        if !self.factories.contains_key(&name) {
            self.hints.insert(name, how.into());
        }
        self
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.factories.contains_key(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// Builds the backend that `config.dispatcher` names.
    pub fn build(&self, config: &Config) -> Result<Arc<dyn Dispatcher>> {
        self.build_named(&config.dispatcher, config)
    }

    /// Builds the backend `name`.
    pub fn build_named(&self, name: &str, config: &Config) -> Result<Arc<dyn Dispatcher>> {
        match self.factories.get(name) {
            Some(f) => f(config),
            None => Err(Error::UnknownDispatcher {
                name: crate::error::excerpt(name),
                known: self.factories.keys().cloned().collect(),
                hint: self.hints.get(name).cloned(),
            }),
        }
    }
}
