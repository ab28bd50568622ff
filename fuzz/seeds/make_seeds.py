#!/usr/bin/env python3
"""Writes the fuzz seeds in fuzz/seeds/<target>/ from the fixtures in tests/fixtures.

Run from the repository root: `python3 fuzz/seeds/make_seeds.py [FIXTURES]` (FIXTURES defaults
to tests/fixtures). The output is committed; SOURCES.md says where each seed came from.
Only the standard library is used: XML-RPC documents are written by Python's xmlrpc.client,
the same marshaller Koji's hub is built on.
"""

import json
import pathlib
import re
import shutil
import sys
import xmlrpc.client

SEEDS = pathlib.Path(__file__).resolve().parent
PREFIX = "org.fedoraproject.prod."


def write(target, name, content):
    directory = SEEDS / target
    directory.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    (directory / name).write_bytes(data)


def message_seeds(fixtures):
    """`message`: routing key, newline, body as the publisher sent it."""
    bare = [
        "packit-service/pagure_pr_new.json",
        "packit-service/pagure_pr_new_no_fork.json",
        "packit-service/pagure_pr_updated.json",
        "packit-service/pagure_pr_rebased.json",
        "packit-service/pagure_pr_comment.json",
        "packit-service/pagure_pr_flag_updated.json",
        "packit-service/koji_build_scratch_start.json",
        "packit-service/koji_build_scratch_end.json",
        "packit-service/logdetective_analysis_result.json",
        "packit-service/logdetective_analysis_result_error.json",
    ]
    for path in bare:
        body = json.loads((fixtures / path).read_text())
        # packit's consumer added these; they never travel on the bus.
        topic = body.pop("topic")
        body.pop("timestamp", None)
        write("message", pathlib.Path(path).stem, f"{topic}\n{json.dumps(body)}")
    schema_example = fixtures / (
        "protocols/fedora-messaging/buildsys.task.state.change.open-to-closed.v1-schema-example.json"
    )
    write(
        "message",
        "koji_task_v1_schema_example",
        f"{PREFIX}buildsys.task.state.change\n{schema_example.read_text()}",
    )
    for path in [
        "packit-service/koji_build_start_rawhide.json",
        "packit-service/koji_build_completed_rawhide.json",
    ]:
        dump = json.loads((fixtures / path).read_text())
        write("message", pathlib.Path(path).stem, f"{dump['topic']}\n{json.dumps(dump['body'])}")
    notification = (fixtures / "packit-service/notification.json").read_text()
    write("message", "testing_farm_notification", f"testing-farm.results\n{notification}")


def envelope_seeds(fixtures):
    """`envelope`: stored-message files byte for byte."""
    for path in [
        "protocols/fedora-messaging/fedora-messaging.serialized-dump.jsonl",
        "protocols/fedora-messaging/buildsys.build.state.change.building.serialized.json",
        "protocols/fedora-messaging/pagure.pull-request.comment.added.json",
        "protocols/fedora-messaging/buildsys.task.state.change.open-to-closed.json",
        "packit-service/koji_build_completed_rawhide.json",
    ]:
        shutil.copyfile(fixtures / path, SEEDS / "envelope" / pathlib.Path(path).name)


def testing_farm_webhook_seeds(fixtures):
    for path in [
        "packit-service/notification.json",
        "protocols/testing-farm/notification.webhook.json",
    ]:
        shutil.copyfile(
            fixtures / path, SEEDS / "testing_farm_webhook" / pathlib.Path(path).name
        )


def comment_command_seeds(fixtures):
    comment = json.loads((fixtures / "packit-service/pagure_pr_comment.json").read_text())
    write("comment_command", "pagure_pr_comment", comment["pullrequest"]["comments"][-1]["comment"])
    for name, text in {
        "help": "/fedora-ci help",
        "scratch_build_eln": "/fedora-ci scratch-build --target eln",
        "test_one": "/fedora-ci test rpminspect --target=rawhide",
        "test_failed": "Rebuilt.\n\n  /fedora-ci   test\t--failed  \r\n/fedora-ci help",
        "double_dash": "/fedora-ci test -- rpmlint",
        "bare_prefix": "/fedora-ci\nplease test it",
    }.items():
        write("comment_command", name, text)


def xmlrpc_seeds(fixtures):
    """Answers and calls of the recorded hub session, as the hub and koji's client write them."""
    calls = json.loads((fixtures / "protocols/koji/hub-calls.build-task-8982172.json").read_text())
    for index, call in enumerate(calls):
        name = f"{index:02}-{call['method']}"
        response = xmlrpc.client.dumps((call["result"],), methodresponse=True, allow_none=True)
        write("xmlrpc_response", name, response)
        params = list(call["args"])
        if call["kwargs"]:
            params.append(dict(call["kwargs"], __starstar=True))
        request = xmlrpc.client.dumps(tuple(params), call["method"], allow_none=True)
        write("xmlrpc_call", name, request)
    fault = xmlrpc.client.dumps(
        xmlrpc.client.Fault(1007, 'session "1" has expired'), methodresponse=True
    )
    write("xmlrpc_response", "fault", fault)


def config_seeds(repository):
    """`config`: the repository's own configuration files, and one with overrides."""
    for path in [
        "fedora-ci.example.toml",
        "deploy/compose/fedora-ci.toml",
        "openshift/production/fedora-ci.toml",
        "openshift/staging/fedora-ci.toml",
    ]:
        name = path.replace("/", "_").removesuffix(".toml")
        write("config", name, (repository / path).read_bytes())
    # The example names secret files that exist only in a pod; inline secrets let the loader
    # go on to the rest of the file.
    example = (repository / "fedora-ci.example.toml").read_text()
    inline = re.sub(r'^(\w+)_file = "[^"]*"', r'\1 = "inline-secret-0123456789"', example, flags=re.M)
    write("config", "fedora-ci.example.inline-secrets", inline)
    write(
        "config",
        "with_environment",
        b'deployment = "stg"\n[worker]\nlease_seconds = 30\n'
        b"\0WORKER__QUEUES={ short = 2 }\nMESSAGING__PREFETCH=10\n"
        b"PAGURE_TOKEN=0123456789\nDATABASE_URL=postgres://ci:secret-password@db/ci\n",
    )


def main():
    repository = SEEDS.parent.parent
    fixtures = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else repository / "tests/fixtures")
    for target in ["message", "envelope", "testing_farm_webhook", "comment_command",
                   "xmlrpc_response", "xmlrpc_call", "config"]:
        shutil.rmtree(SEEDS / target, ignore_errors=True)
        (SEEDS / target).mkdir(parents=True)
    message_seeds(fixtures)
    envelope_seeds(fixtures)
    testing_farm_webhook_seeds(fixtures)
    comment_command_seeds(fixtures)
    xmlrpc_seeds(fixtures)
    config_seeds(repository)


if __name__ == "__main__":
    main()
