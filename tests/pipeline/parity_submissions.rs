//! Parity with packit-service (issue #15): retry budget, links, Koji row after submission, Kerberos error flag (items 2, 3, 6, 10).
//! Each expected value cites the packit-service test or line it comes from.
