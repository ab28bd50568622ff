#!/usr/bin/env python3
"""Drives PyPI ogr's Pagure service against our fake Pagure.

Usage: ogr_pagure.py PAGURE_URL TOKEN

Reads pull request 6 of the project ``ogr-tests`` (served from a real Pagure
answer), sets the same flag twice (added, then updated through its uid), and
comments. Prints one JSON object with what ogr returned.
"""

import json
import sys

from ogr.abstract import CommitStatus
from ogr.services.pagure import PagureService

UID = "553fa0c52d0367d778458af022ac8a9d"


def main():
    url, token = sys.argv[1], sys.argv[2]
    service = PagureService(token=token, instance_url=url)
    project = service.get_project(namespace=None, repo="ogr-tests")
    pr = project.get_pr(6)
    first = pr.set_flag(username="Packit - scratch build - master [1b491a6]", comment="RPM build was submitted.",
                        url="https://koji.example.com/koji/taskinfo?taskID=1", status=CommitStatus.pending, uid=UID)
    second = pr.set_flag(username="Packit - scratch build - master [1b491a6]", comment="RPM build succeeded.",
                         url="https://koji.example.com/koji/taskinfo?taskID=1", status=CommitStatus.success, uid=UID)
    pr.comment("Thanks, the build passed.")
    print(json.dumps({
        "title": pr.title,
        "author": pr.author,
        "target_branch": pr.target_branch,
        "source_branch": pr.source_branch,
        "first_flag": repr(first),
        "second_flag": repr(second),
    }, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
