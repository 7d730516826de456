//! The clock deprecation and sunset are judged by: the framework's [`crate::clock`], under its
//! former path.

pub use crate::clock::{Clock, ManualClock, SystemClock};

/// The former name of [`ManualClock`] (one clock for the whole framework now).
#[deprecated(note = "use `saas_core::clock::ManualClock`")]
pub type TestClock = ManualClock;
