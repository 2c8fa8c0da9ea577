//! The one integration test binary: a module per area, services shared within it.

mod support;

mod any_repository;
mod config_errors;
mod crash;
mod diff;
mod encrypted;
mod follow;
mod hardening;
mod install;
mod lock;
mod monitoring;
mod mount;
mod mysql;
mod offsite;
mod prune;
mod reindex;
mod restore_exact;
mod roundtrip;
mod services;
mod sources;
mod verify;
