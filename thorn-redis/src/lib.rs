//! The Redis backend of Thorn.
#![forbid(unsafe_code)]

pub mod entry;
pub mod keys;
