//! OpenAPI: one document per API version, served, exported, checked against the committed
//! contract, and down-converted to 3.0.3 for generators that read only 3.0.

pub mod contract;
pub mod diff;
pub mod document;
pub mod downgrade;
pub mod operation;
pub mod refs;
pub mod serve;
mod versioned;

#[doc(no_inline)]
pub use refs::{Resolved, Unresolved, resolve};
