//! fedora-ci: Fedora CI for Fedora dist-git pull requests.
//!
//! See `docs/architecture.md` for the map of this crate and the rules between its modules.

pub mod api;
pub mod bench;
pub mod checker;
pub mod cli;
pub mod clients;
pub mod config;
pub mod context;
pub mod db;
pub mod events;
pub mod fakes;
pub mod handlers;
pub mod helpers;
pub mod intake;
pub mod jobs;
pub mod listener;
pub mod metrics;
pub mod replay;
pub mod roles;
pub mod secret;
pub mod tasks;
pub mod telemetry;
