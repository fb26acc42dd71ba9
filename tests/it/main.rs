//! bld's integration tests: the real binary on real workspaces, checked by independent tools.

mod build;
mod cache;
mod crate_graph;
mod errors;
mod query;
mod support;
