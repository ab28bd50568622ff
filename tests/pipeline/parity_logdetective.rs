//! Parity with packit-service (issue #15): Log Detective commentary, request and rows, Log Detective metrics (items 7, 8).
//! Each expected value cites the packit-service test or line it comes from.
