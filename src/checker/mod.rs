//! Checkers: whether a handler should run for an event. Pure predicates here; the few that
//! need I/O (packager membership, ELN branches) take a client.

pub mod projects;
