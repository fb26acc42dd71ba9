//! bld's integration tests: the real binary on real workspaces, checked by independent tools.

mod build;
mod build_arguments;
mod build_flags;
mod build_outputs;
mod build_stdin;
mod buildah_peer;
mod cache;
mod cli;
mod crate_graph;
mod docker_peer;
mod dockerfile;
mod errors;
mod hostile_dockerfiles;
mod hostile_starlark;
mod images;
mod peers;
mod query;
mod registry;
mod registry_auth;
mod registry_lock;
mod registry_push;
mod run_exit_codes;
mod run_steps;
mod security;
mod special_files;
mod support;
