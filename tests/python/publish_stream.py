"""Publish a stream of messages with fedora-messaging's own API, as Fedora's publishers do.

Usage: publish_stream.py AMQP_URL
Reads one JSON object {"topic": ..., "body": {...}} per line on stdin and publishes it at
once; prints each message's id on its own line, in publishing order, as soon as the broker
has confirmed it. Stops at the end of stdin.
"""

import json
import os
import sys
import tempfile


def main():
    amqp_url = sys.argv[1]
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as config:
        config.write(f'amqp_url = "{amqp_url}"\n')
        config.write('publish_exchange = "amq.topic"\n')
        config.write("[tls]\nca_cert = ''\nkeyfile = ''\ncertfile = ''\n")
    os.environ["FEDORA_MESSAGING_CONF"] = config.name

    # Imported after the configuration is in place: fedora_messaging reads it on import.
    from fedora_messaging import api, message

    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            item = json.loads(line)
            msg = message.Message(topic=item["topic"], body=item["body"])
            api.publish(msg)
            sys.stdout.write(msg.id + "\n")
            sys.stdout.flush()
    finally:
        os.unlink(config.name)


if __name__ == "__main__":
    main()
