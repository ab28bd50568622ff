"""Publish messages with fedora-messaging's own API, as Fedora's publishers do.

Usage: publish.py AMQP_URL < messages.json
messages.json is a JSON list of {"topic": ..., "body": {...}}. Prints a JSON list of the
message ids, in publishing order.
"""

import json
import os
import sys
import tempfile


def main():
    amqp_url = sys.argv[1]
    messages = json.load(sys.stdin)
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as config:
        config.write(f'amqp_url = "{amqp_url}"\n')
        config.write('publish_exchange = "amq.topic"\n')
        config.write("[tls]\nca_cert = ''\nkeyfile = ''\ncertfile = ''\n")
    os.environ["FEDORA_MESSAGING_CONF"] = config.name

    # Imported after the configuration is in place: fedora_messaging reads it on import.
    from fedora_messaging import api, message

    ids = []
    for item in messages:
        msg = message.Message(topic=item["topic"], body=item["body"])
        api.publish(msg)
        ids.append(msg.id)
    json.dump(ids, sys.stdout)
    os.unlink(config.name)


if __name__ == "__main__":
    main()
