//! Small pure helpers the handlers share. Nothing here does I/O.

pub mod flags;
