"""The reference's own messaging models, over our daemon: write a message
with kioku_mesh.messaging (the reference 1.2.0 package) and eclipse-zenoh,
and parse one of ours. Run by tests/messaging.rs with:

    python reference_messaging.py <zenoh-endpoint> put|put-big <to-agent> <marker>
    python reference_messaging.py <zenoh-endpoint> parse <key>

`put` prints the msg_id; `parse` prints sender, recipient kind and body.
"""

import sys

import zenoh
from kioku_mesh.messaging import keyspace
from kioku_mesh.messaging.models import Message

ENDPOINT, ACTION = sys.argv[1], sys.argv[2]

conf = zenoh.Config()
conf.insert_json5("mode", '"client"')
conf.insert_json5("connect/endpoints", f'["{ENDPOINT}"]')
conf.insert_json5("scouting/multicast/enabled", "false")
session = zenoh.open(conf)
try:
    if ACTION in ("put", "put-big"):
        to_agent, marker = sys.argv[3], sys.argv[4]
        if ACTION == "put-big":
            # Over the 64 KiB body limit: the reference's own sender would
            # refuse it, a careless or hostile writer does not.
            marker = marker + " " + "x" * 70000
        msg = Message(
            sender_id="py@reference",
            scope="mesh",
            payload={},
            sender={"agent_id": "py@reference", "session_id": "py-session"},
            recipient={"kind": "agent", "agent_id": to_agent},
            body=marker,
        )
        session.put(keyspace.agent_inbox_key("mesh", to_agent, msg.msg_id), msg.to_json().encode())
        print(msg.msg_id)
    elif ACTION == "parse":
        key = sys.argv[3]
        replies = list(session.get(key, timeout=5.0))
        bodies = [r.ok.payload.to_bytes().decode() for r in replies if r.ok is not None]
        assert bodies, f"nothing at {key}"
        msg = Message.from_json(bodies[0])
        print(msg.sender_id, msg.recipient.get("kind"), msg.body, msg.correlation_id)
finally:
    session.close()
