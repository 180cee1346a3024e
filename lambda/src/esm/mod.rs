//! Event source mappings: a stream's records pushed into a function.

pub mod filter;
pub mod params;
