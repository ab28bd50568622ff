#!/usr/bin/env python3
"""Drives PyPI koji's own ClientSession against our fake Koji hub.

Usage: koji_client_session.py HUB_URL

Anonymous calls first, then a session through ``login`` (user name and password:
koji's ``ssl_login`` forces https, and the fake serves plain HTTP), a scratch
build, reads of it, and its cancellation. Prints one JSON object with what koji
returned; any mismatch raises, so the exit status tells the Rust test.
"""

import json
import sys

import koji

SOURCE = "git+https://src.fedoraproject.org/rpms/optee_os.git#889f07af35d27bbcaf9c535c17a63b974aa42ee3"


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def anonymous_calls(session):
    expect(session.getAPIVersion() == 1, "getAPIVersion")
    task = session.getTaskInfo(8982172, request=True)
    expect(task["method"] == "build" and task["state"] == koji.TASK_STATES["CLOSED"], "getTaskInfo: %r" % task)
    expect(task["request"][1] == "rawhide", "getTaskInfo request: %r" % task)
    children = session.getTaskChildren(8982172)
    expect([child["id"] for child in children] == [8982174, 8982231], "getTaskChildren: %r" % children)
    expect(session.getTaskInfo(1) is None, "unknown task is None")
    target = session.getBuildTarget("rawhide")
    expect(target["dest_tag_name"] == "f44-updates-candidate", "getBuildTarget: %r" % target)
    host = session.getHost(84)
    expect(host["name"] == "buildvm-26.build.example.com", "recorded getHost: %r" % host)
    try:
        session.build(SOURCE, "rawhide", {"scratch": True})
    except koji.ActionNotAllowed as error:
        expect("logged in" in str(error), "anonymous build refused: %s" % error)
    else:
        raise AssertionError("anonymous build must fail")
    return {"task": task["id"], "children": [child["id"] for child in children]}


def session_calls(session):
    session.opts["user"] = "packit"
    session.opts["password"] = "packit-password"
    expect(session.login() is True, "login")
    user = session.getLoggedInUser()
    expect(user["name"] == "packit", "getLoggedInUser: %r" % user)
    task_id = session.build(SOURCE, "rawhide", {"scratch": True})
    info = session.getTaskInfo(task_id, request=True)
    expect(info["state"] == koji.TASK_STATES["FREE"], "new task is FREE: %r" % info)
    expect(info["request"] == [SOURCE, "rawhide", {"scratch": True}], "request: %r" % info)
    listed = list_own_builds(session, user["id"], info["create_ts"])
    try:
        session.build(SOURCE, "no-such-target", {"scratch": True})
    except koji.GenericError as error:
        expect("No such build target" in str(error), "unknown target: %s" % error)
    else:
        raise AssertionError("a build for an unknown target must fail")
    session.cancelTask(task_id)
    state = session.getTaskInfo(task_id)["state"]
    expect(state == koji.TASK_STATES["CANCELED"], "canceled: %r" % state)
    session.logout()
    return {"scratch_task": task_id, "user": user["name"], "listed_tasks": listed}


def list_own_builds(session, owner, created_ts):
    """listTasks as fedora-ci reconciles a lost build answer, then its other spellings."""
    opts = {"method": "build", "owner": owner, "createdAfter": created_ts - 1, "decode": True}
    tasks = session.listTasks(opts=opts)
    expect(len(tasks) == 1, "listTasks: %r" % tasks)
    task = tasks[0]
    expect(task["request"] == [SOURCE, "rawhide", {"scratch": True}], "decoded request: %r" % task)
    expect(task["owner_name"] == "packit" and task["owner"] == owner, "owner: %r" % task)
    expect(task["state"] == koji.TASK_STATES["FREE"] and task["result"] is None, "state: %r" % task)
    stored = session.listTasks({"method": "build", "owner": owner, "createdAfter": created_ts - 1})
    expect(stored[0]["request"].startswith("<?xml"), "undecoded request: %r" % stored)
    params, method = koji.xmlrpcplus.loads(stored[0]["request"])
    expect((method, list(params)) == ("build", task["request"]), "stored call: %r %r" % (method, params))
    later = session.listTasks(opts={"method": "build", "createdAfter": created_ts + 60})
    expect(later == [], "nothing created after: %r" % later)
    since_date = session.listTasks(opts={"owner": owner, "createdAfter": "2000-01-01 00:00:00"})
    expect([t["id"] for t in since_date] == [task["id"]], "date string bound: %r" % since_date)
    count = session.listTasks(opts={"owner": [owner]}, queryOpts={"countOnly": True})
    expect(count == 1, "countOnly: %r" % count)
    return [t["id"] for t in tasks]


def main():
    hub_url = sys.argv[1]
    session = koji.ClientSession(hub_url, opts={"max_retries": 0, "anon_retry": False})
    result = anonymous_calls(session)
    result.update(session_calls(session))
    result["koji_version"] = getattr(koji, "__version__", "unknown")
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
