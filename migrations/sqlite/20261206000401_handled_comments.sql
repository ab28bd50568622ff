-- The pull-request comments whose command has been planned, by Pagure comment id. Pagure and
-- the bus may deliver the same comment again under a new message id; such a delivery plans
-- nothing again, so a finished check is not set back to "The task was accepted.". A new
-- table only, so the previous release runs unchanged on a migrated database.
CREATE TABLE handled_comments (
    pull_request_id INTEGER NOT NULL REFERENCES pull_requests (id),
    comment_id INTEGER NOT NULL,
    handled_at TIMESTAMP NOT NULL,
    PRIMARY KEY (pull_request_id, comment_id)
);
