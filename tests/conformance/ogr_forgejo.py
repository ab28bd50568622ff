#!/usr/bin/env python3
"""Drives PyPI ogr's Forgejo service (on pyforgejo) against our fake Forgejo.

Usage: ogr_forgejo.py WEB_URL TOKEN OWNER REPO SHA PR_NUMBER

Reads the pull request, sets a commit status twice under one context (ogr trims the
description to 140 characters, as Packit asks), reads the statuses back, and comments on the
pull request. Prints one JSON object with what ogr returned.
"""

import json
import sys

from ogr.abstract import CommitStatus
from ogr.services.forgejo import ForgejoService


def main():
    web_url, token, owner, repo, sha, number = sys.argv[1:7]
    service = ForgejoService(instance_url=web_url, token=token)
    project = service.get_project(repo=repo, namespace=owner)
    pr = project.get_pr(int(number))
    context = "Fedora CI - scratch build - rawhide"
    project.set_commit_status(sha, CommitStatus.pending, "https://ci.example/1",
                              "RPM build was submitted ...", context, trim=True)
    project.set_commit_status(sha, CommitStatus.success, "https://ci.example/1",
                              "x" * 200, context, trim=True)
    statuses = [(flag.context, flag.state.name, flag.comment) for flag in project.get_commit_statuses(sha)]
    comment = pr.comment("Thanks, the build passed.")
    print(json.dumps({
        "title": pr.title,
        "target_branch": pr.target_branch,
        "head_commit": pr.head_commit,
        "statuses": statuses,
        "comment": comment.body,
    }, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
