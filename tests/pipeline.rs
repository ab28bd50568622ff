//! Fedora CI jobs end to end, in process: real fixture messages go through intake into the
//! real database and queue, the real handlers run in a worker, and the fakes (Koji,
//! Testing Farm, Pagure, ELN lists, Log Detective) record every external call, which the
//! tests compare exactly with what packit-service sends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(clippy::duplicate_mod)]
mod clients_support;
mod common;

#[path = "pipeline/stack.rs"]
mod stack;

#[path = "pipeline/builds.rs"]
mod builds;
#[path = "pipeline/comments.rs"]
mod comments;
#[path = "pipeline/flags.rs"]
mod flags;
/// Hostile identifiers, URLs and branches (issue #16).
#[path = "pipeline/hostile.rs"]
mod hostile;
/// A pull request on Forgejo, beside Pagure (issue #17).
#[path = "pipeline/lifecycle_forgejo.rs"]
mod lifecycle_forgejo;
/// Koji and Log Detective state read from the source of truth, sessions the hub forgot.
#[path = "pipeline/lifecycle_koji.rs"]
mod lifecycle_koji;
/// Outages, giving up with a final flag, one flag post in flight, stuck checks.
#[path = "pipeline/lifecycle_outage.rs"]
mod lifecycle_outage;
/// Re-sent pull-request events, comments while a build runs, disabled projects.
#[path = "pipeline/lifecycle_pr.rs"]
mod lifecycle_pr;
/// Parity with packit-service (issue #15): accepted flags, test choices, replies.
#[path = "pipeline/parity_comments.rs"]
mod parity_comments;
/// Parity with packit-service (issue #15): Log Detective requests and rows, metrics.
#[path = "pipeline/parity_logdetective.rs"]
mod parity_logdetective;
/// Parity with packit-service (issue #15): retries, links, Koji row states, Kerberos errors.
#[path = "pipeline/parity_submissions.rs"]
mod parity_submissions;
#[path = "pipeline/reconcile.rs"]
mod reconcile;
#[path = "pipeline/tests_and_results.rs"]
mod tests_and_results;
