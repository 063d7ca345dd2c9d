//! One setting's declaration: its variable, default, doc line and parser.
//!
//! Core and every backend crate declare their settings as [`Setting`]
//! constants and read them from a [`Config`], which keeps every `THORN_*`
//! variable it was built from; the README's table of settings is made from
//! the declarations ([`table`]).

use std::fmt;

use crate::config::Config;
use crate::error::{Error, Result};

/// A setting of type `T`: the `THORN_*` variable that holds it, its
/// default (in the variable's syntax), a doc line, a parser of the
/// variable's text, and a check of the value (which values given to a
/// builder method also pass), so that text and typed values are validated
/// by the same code.
///
/// ```
/// use thorn_core::Config;
/// use thorn_core::config::{Setting, parse};
///
/// const QUEUE_SIZE: Setting<usize> = Setting::new(
///     "THORN_MYQUEUE_SIZE",
///     "100",
///     "how many events the queue holds",
///     parse::count,
/// )
/// .checked(|n| parse::within(*n, 1, 10_000));
///
/// let config = Config::builder().var("THORN_MYQUEUE_SIZE", "250").build().unwrap();
/// assert_eq!(config.get(&QUEUE_SIZE).unwrap(), 250);
/// assert_eq!(Config::default().get(&QUEUE_SIZE).unwrap(), 100);
/// let bad = Config::builder().var("THORN_MYQUEUE_SIZE", "0").build().unwrap();
/// assert!(bad.get(&QUEUE_SIZE).unwrap_err().to_string().contains("THORN_MYQUEUE_SIZE=\"0\""));
/// ```
pub struct Setting<T> {
    doc: SettingDoc,
    parse: fn(&str) -> Result<T, String>,
    check: fn(&T) -> Result<(), String>,
    show: fn(&str) -> String,
}

/// What the README says of a setting: its variable, default and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingDoc {
    /// The environment variable, `THORN_…`.
    pub name: &'static str,
    /// The default, in the variable's syntax (`unset` when there is none).
    pub default: &'static str,
    /// One line on what it does.
    pub doc: &'static str,
}

fn accept<T>(_: &T) -> Result<(), String> {
    Ok(())
}

fn as_given(text: &str) -> String {
    text.to_owned()
}

impl<T> Setting<T> {
    /// Declares a setting read by `parse`, with no further check.
    pub const fn new(
        name: &'static str,
        default: &'static str,
        doc: &'static str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Self {
        Setting {
            doc: SettingDoc { name, default, doc },
            parse,
            check: accept,
            show: as_given,
        }
    }

    /// Adds the check every value must pass, parsed or given to a builder.
    pub const fn checked(mut self, check: fn(&T) -> Result<(), String>) -> Self {
        self.check = check;
        self
    }

    /// How the value appears in errors, for a value that may hold a secret
    /// (a URL with a password).
    pub const fn shown_as(mut self, show: fn(&str) -> String) -> Self {
        self.show = show;
        self
    }

    /// The variable's name.
    pub const fn name(&self) -> &'static str {
        self.doc.name
    }

    /// The declaration, for the table of settings.
    pub const fn doc(&self) -> SettingDoc {
        self.doc
    }

    /// Reads `text`; an error names the variable and the value as given.
    pub fn parse(&self, text: &str) -> Result<T> {
        let text = text.trim();
        (self.parse)(text)
            .and_then(|value| (self.check)(&value).map(|()| value))
            .map_err(|reason| Error::setting(self.doc.name, (self.show)(text), reason))
    }

    /// Checks a value given to a builder method, as a parsed one is.
    pub fn accept(&self, value: T) -> Result<T>
    where
        T: fmt::Debug,
    {
        match (self.check)(&value) {
            Ok(()) => Ok(value),
            Err(reason) => Err(Error::setting(self.doc.name, format!("{value:?}"), reason)),
        }
    }

    /// The value in `config`: its variable (from the environment or a
    /// builder), else the default.
    pub fn read(&self, config: &Config) -> Result<T> {
        self.parse(config.var(self.doc.name).unwrap_or(self.doc.default))
    }
}

impl<T> fmt::Debug for Setting<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Setting({})", self.doc.name)
    }
}

/// The settings as a Markdown table (`| variable | default | meaning |`),
/// in the order given: the README's table is this text.
pub fn table<'a>(settings: impl IntoIterator<Item = &'a SettingDoc>) -> String {
    let mut out = String::from("| variable | default | meaning |\n|---|---|---|\n");
    for s in settings {
        let default = if s.default.is_empty() {
            "unset".to_owned()
        } else {
            format!("`{}`", s.default)
        };
        out.push_str(&format!("| `{}` | {default} | {} |\n", s.name, s.doc));
    }
    out
}
