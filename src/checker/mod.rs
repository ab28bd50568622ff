//! Checkers: whether a handler should run for an event (packit-service's `checker/`). The
//! pure ones need only the configuration; the others ask the forge or the ELN lists, and run
//! inside the handler's task so that a failure is retried with it.

pub mod branches;
pub mod eln;
pub mod projects;
pub mod retirement;
pub mod tests_applicable;
