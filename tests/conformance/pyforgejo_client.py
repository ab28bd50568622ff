#!/usr/bin/env python3
"""Drives PyPI pyforgejo (the Forgejo client ogr uses) against our fake Forgejo.

Usage: pyforgejo_client.py API_URL TOKEN OWNER REPO SHA PR_NUMBER

Reads the pull request, sets a status twice under one context, lists the statuses,
comments on the pull request, reads a branch and a raw file at the commit. Prints one JSON
object with what pyforgejo returned (its pydantic models parse every answer).
"""

import json
import sys

from pyforgejo import PyforgejoApi


def main():
    api_url, token, owner, repo, sha, number = sys.argv[1:7]
    number = int(number)
    client = PyforgejoApi(base_url=api_url, api_key=token)
    pull = client.repository.repo_get_pull_request(owner, repo, number)
    first = client.repository.repo_create_status(
        owner, repo, sha, context="Fedora CI - rpmlint - rawhide", state="pending",
        description="Tests are running.", target_url="https://ci.example/1")
    second = client.repository.repo_create_status(
        owner, repo, sha, context="Fedora CI - rpmlint - rawhide", state="success",
        description="Tests passed.", target_url="https://ci.example/1")
    statuses = client.repository.repo_list_statuses(owner, repo, sha)
    comment = client.issue.create_comment(owner, repo, number, body="Thanks, the tests passed.")
    branch = client.repository.repo_get_branch(owner, repo, "rawhide")
    raw = b"".join(client.repository.repo_get_raw_file(owner, repo, ".fmf/version", ref=sha))
    print(json.dumps({
        "pull_number": pull.number,
        "pull_head": pull.head.sha,
        "pull_base": pull.base.ref,
        "first_status": first.status,
        "second_status": second.status,
        "statuses": [[status.context, status.status, status.description] for status in statuses],
        "comment_body": comment.body,
        "comment_pull_request_url": comment.pull_request_url,
        "branch": branch.name,
        "raw": raw.decode(),
    }, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
