//! Small pure helpers the handlers share. Nothing here does I/O.

pub mod commands;
pub mod flags;
pub mod testing_farm;
