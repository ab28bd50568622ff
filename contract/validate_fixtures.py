#!/usr/bin/env python3
"""Contract check of the message fixtures against the publishers' own schema packages.

The Rust tests of `src/events/` trust the fixtures in tests/fixtures to be real messages.
This script holds them to the schemas the publishers ship (pagure-messages,
koji-fedoramessaging-messages, webhook-to-fedora-messaging-messages for Forgejo, all on
fedora-messaging):

1. every fixture body validates with the schema class of its topic, except for fields
   that old captured messages lack, which are named here with the reason;
2. every change in parser_requirements.json (a field the Rust parser cannot do without,
   removed or set to null) also makes the schema reject the message, unless the entry
   says why we are stricter than the schema; tests/events.rs checks the Rust side.

Log Detective and Testing Farm publish no schema package usable here, so their fixtures
are not checked. Exit status: 0 when everything holds, 1 otherwise.
"""

import argparse
import copy
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
from fedora_messaging.exceptions import ValidationError
from koji_fedoramessaging_messages.build import BuildStateChangeV1
from koji_fedoramessaging_messages.task import TaskStateChangeV1
from pagure_messages import pull_requests_schema as pagure
from webhook_to_fedora_messaging_messages.forgejo.v1 import ForgejoMessageV1

HERE = Path(__file__).resolve().parent
# The fixtures the tests use, copied into the repository (tests/fixtures/SOURCES.md).
DEFAULT_FIXTURES = HERE.parent / "tests" / "fixtures"
TOPIC_PREFIX = "org.fedoraproject.prod."

SCHEMAS = {
    "pagure.pull-request.new": pagure.PullRequestNewV1,
    "pagure.pull-request.updated": pagure.PullRequestUpdatedV1,
    "pagure.pull-request.rebased": pagure.PullRequestRebasedV1,
    "pagure.pull-request.comment.added": pagure.PullRequestCommentAddedV1,
    "pagure.pull-request.closed": pagure.PullRequestClosedV1,
    "pagure.pull-request.flag.updated": pagure.PullRequestFlagUpdatedV1,
    "buildsys.task.state.change": TaskStateChangeV1,
    "buildsys.build.state.change": BuildStateChangeV1,
    # webhook-to-fedora-messaging publishes every Forgejo event with one schema class.
    "forgejo.pull_request": ForgejoMessageV1,
    "forgejo.issue_comment": ForgejoMessageV1,
    "forgejo.push": ForgejoMessageV1,
    "forgejo.action_run_success": ForgejoMessageV1,
}
# The keys of a webhook-to-fedora-messaging body; packit's copies add topic, id, priority, queue.
W2FM_KEYS = ("body", "headers", "agent")

KOJI_2020 = (
    "a 2020 message: koji-fedoramessaging added base_url and files_base_url later, "
    "and the schema now also wants `result` on every task info"
)
CHANGES = {"delete": "removed", "null": "set to null"}
KOJI_BUILD_WITHOUT_TASK = "packit-service's copy has no `task` key; the schema wants one (null allowed)"


@dataclass
class Fixture:
    topic: str = ""
    """Topic for a file that names none."""
    stale: dict = field(default_factory=dict)
    """Fields the captured message lacks, as dotted path -> placeholder value."""
    why_stale: str = ""


def koji_2020_task(*tasks_without_result: str) -> Fixture:
    stale = {
        "base_url": "https://koji.fedoraproject.org",
        "files_base_url": "https://kojipkgs.fedoraproject.org/work",
    }
    stale.update({f"{task}.result": None for task in tasks_without_result})
    return Fixture(stale=stale, why_stale=KOJI_2020)


FIXTURES = {
    "packit-service/pagure_pr_new.json": Fixture(),
    "packit-service/pagure_pr_new_no_fork.json": Fixture(),
    "packit-service/pagure_pr_updated.json": Fixture(),
    "packit-service/pagure_pr_rebased.json": Fixture(),
    "packit-service/pagure_pr_comment.json": Fixture(),
    "packit-service/pagure_pr_flag_updated.json": Fixture(),
    "protocols/fedora-messaging/pagure.pull-request.new.json": Fixture(),
    "protocols/fedora-messaging/pagure.pull-request.updated.json": Fixture(),
    "protocols/fedora-messaging/pagure.pull-request.rebased.json": Fixture(),
    "protocols/fedora-messaging/pagure.pull-request.comment.added.json": Fixture(),
    "protocols/fedora-messaging/buildsys.task.state.change.open-to-closed.v1-schema-example.json": Fixture(
        topic="buildsys.task.state.change"
    ),
    "packit-service/koji_build_scratch_start.json": koji_2020_task("info"),
    "packit-service/koji_build_scratch_end.json": koji_2020_task("info.children[0]", "info.children[1]"),
    "protocols/fedora-messaging/buildsys.task.state.change.free-to-open.json": koji_2020_task("info"),
    "protocols/fedora-messaging/buildsys.task.state.change.open-to-closed.json": koji_2020_task("info.children[0]", "info.children[1]"),
    "packit-service/koji_build_start_rawhide.json": Fixture(
        stale={"task": None}, why_stale=KOJI_BUILD_WITHOUT_TASK
    ),
    "packit-service/koji_build_completed_rawhide.json": Fixture(
        stale={"task": None}, why_stale=KOJI_BUILD_WITHOUT_TASK
    ),
    "protocols/fedora-messaging/buildsys.build.state.change.building.serialized.json": Fixture(
        stale={"task": None}, why_stale=KOJI_BUILD_WITHOUT_TASK
    ),
    "protocols/fedora-messaging/buildsys.build.state.change.complete.serialized.json": Fixture(
        stale={"task": None}, why_stale=KOJI_BUILD_WITHOUT_TASK
    ),
    "forgejo/forgejo.pull_request.synchronized.fork.json": Fixture(),
    "forgejo/forgejo.issue_comment.on-pull-request.json": Fixture(),
    "forgejo/forgejo.issue_comment.on-issue.json": Fixture(),
    "forgejo/forgejo.push.branch.json": Fixture(),
    "forgejo/forgejo.action_run_success.pull_request.json": Fixture(),
    "forgejo/webhook.pull_request.opened.same-repo.codeberg.json": Fixture(topic="forgejo.pull_request"),
}


def read_message(fixtures: Path, relative: str, default_topic: str = "") -> tuple[str, dict]:
    """The topic name (without prefix) and body of a fixture, in any stored form."""
    document = json.loads((fixtures / relative).read_text())
    if "body" in document and ("agent" in document or relative.startswith("forgejo/")):
        # A webhook-to-fedora-messaging body (its own `body` is the webhook's), as packit's
        # consumer stored it, or as the W2FM tests build it (no `agent`, no `topic`).
        topic = document.get("topic", default_topic)
        body = {key: document[key] for key in W2FM_KEYS if key in document}
    elif "body" in document and "topic" in document:
        topic, body = document["topic"], document["body"]
    else:
        body = dict(document)
        topic = body.pop("topic", default_topic)
        # packit's consumer added it; publishers never send it.
        body.pop("timestamp", None)
    return topic.removeprefix(TOPIC_PREFIX), body


def steps(path: str) -> list:
    """`a.b[0].c[-1]` -> ["a", "b", 0, "c", -1]."""
    found = []
    for part in path.split("."):
        name, _, indexes = part.partition("[")
        found.append(name)
        if indexes:
            found.extend(int(index) for index in indexes.rstrip("]").split("]["))
    return found


def change(body: dict, path: str, how: str, value=None) -> dict:
    changed = copy.deepcopy(body)
    *parents, last = steps(path)
    target = changed
    for step in parents:
        target = target[step]
    if how == "delete":
        del target[last]
    elif how == "null":
        target[last] = None
    else:
        target[last] = value
    return changed


def schema_error(topic: str, body: dict) -> str | None:
    """None when the schema of `topic` accepts `body`, else why not."""
    message = SCHEMAS[topic](body=body, topic=TOPIC_PREFIX + topic)
    try:
        message.validate()
    # Body errors come from jsonschema itself, header errors from fedora-messaging.
    except (jsonschema.ValidationError, ValidationError) as error:
        return str(error).splitlines()[0]
    return None


def check_fixture(fixtures: Path, relative: str, fixture: Fixture) -> list[str]:
    topic, body = read_message(fixtures, relative, fixture.topic)
    if not fixture.stale:
        error = schema_error(topic, body)
        return [f"{relative}: {error}"] if error else []
    if schema_error(topic, body) is None:
        return [f"{relative}: validates now, drop its stale note ({fixture.why_stale})"]
    completed = body
    for path, placeholder in fixture.stale.items():
        completed = change(completed, path, "set", placeholder)
    error = schema_error(topic, completed)
    return [f"{relative}: invalid beyond its stale fields: {error}"] if error else []


def check_requirement(fixtures: Path, requirement: dict) -> list[str]:
    topic, body = read_message(fixtures, requirement["fixture"], requirement.get("topic", ""))
    changed = change(body, requirement["field"], requirement["change"])
    error = schema_error(topic, changed)
    what = f"{requirement['fixture']} with {requirement['field']} {CHANGES[requirement['change']]}"
    if "upstream_allows" in requirement:
        if error is not None:
            return [f"{what}: the schema now rejects it, drop `upstream_allows`"]
        return []
    if error is None:
        return [f"{what}: the schema accepts it but our parser rejects it"]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    arguments = parser.parse_args()
    # Building a message computes header fields it warns about; the checks say all we need.
    logging.getLogger("fedora_messaging").setLevel(logging.ERROR)

    failures = []
    for relative, fixture in FIXTURES.items():
        problems = check_fixture(arguments.fixtures, relative, fixture)
        note = f" (stale: {', '.join(fixture.stale)})" if fixture.stale else ""
        print(f"{'FAIL' if problems else 'ok  '} {relative}{note}")
        failures.extend(problems)

    requirements = json.loads((HERE / "parser_requirements.json").read_text())["checks"]
    for requirement in requirements:
        problems = check_requirement(arguments.fixtures, requirement)
        stricter = " (we are stricter)" if "upstream_allows" in requirement else ""
        print(
            f"{'FAIL' if problems else 'ok  '} {requirement['field']} "
            f"{CHANGES[requirement['change']]} is rejected{stricter}"
        )
        failures.extend(problems)

    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    checked = len(FIXTURES) + len(requirements)
    print(f"{checked - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
