//! Parity with packit-service (issue #15): accepted flags, test choices per PR, replies (items 1, 4, 5 and the first-status metric of item 8).
//! Each expected value cites the packit-service test or line it comes from.
