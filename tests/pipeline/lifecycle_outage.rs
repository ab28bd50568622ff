//! See the module list in tests/pipeline.rs.
