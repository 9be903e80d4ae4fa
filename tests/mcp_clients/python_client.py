"""Drive kioku-mesh-mcp through the official Python MCP SDK and check every
tool, including its error paths. Run by tests/mcp.rs with:

    python python_client.py <server> <stdout-log> <stderr-log>

in a sandbox whose store already holds one observation written on another
host (pc_id "0" * 32, client "bob@elsewhere", content "foreign marker").
Exits non-zero with a message on the first failed check.
"""

import asyncio
import json
import os
import re
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SERVER, STDOUT_LOG, STDERR_LOG = sys.argv[1], sys.argv[2], sys.argv[3]
EXPECTED_VERSION = os.environ["EXPECTED_VERSION"]
CAP = 20_000
ID = re.compile(r"<id=([0-9a-f]{32})>")


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def text(result):
    check(len(result.content) == 1, f"one content block expected: {result}")
    return result.content[0].text


async def call(session, name, args, *, error=False):
    result = await session.call_tool(name, args)
    check(bool(result.is_error) == error, f"{name}({args}) is_error={result.is_error}: {text(result)}")
    return text(result)


async def save(session, content, subject="subject", summary="summary", **extra):
    reply = json.loads(await call(session, "save_observation", {"content": content, "subject": subject, "summary": summary, **extra}))
    check(reply["status"] == "saved", reply)
    return reply


async def main():
    # The server's stdout goes through tee so the bytes it wrote can be checked afterwards.
    wrapper = '"$0" 2>>"$2" | tee "$1"'
    params = StdioServerParameters(command="/bin/sh", args=["-c", wrapper, SERVER, STDOUT_LOG, STDERR_LOG], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            init = await s.initialize()
            check(init.server_info.name == "kioku-mesh", init.server_info)
            check(init.server_info.version == EXPECTED_VERSION, init.server_info)
            for needle in ("save_observation", "recall_context", "search_memory", "other pc", "supersedes"):
                check(needle in (init.instructions or ""), f"instructions lack {needle}")

            tools = {t.name: t for t in (await s.list_tools()).tools}
            check(list(tools) == ["save_observation", "search_memory", "get_memory", "recall_context", "delete_memory", "get_memory_status", "drain_pending_puts", "check_messages", "ack_message", "purge_expired_messages", "send_message"], list(tools))
            save_schema = tools["save_observation"].input_schema
            check(save_schema["required"] == ["content", "subject", "summary"], save_schema.get("required"))
            check(save_schema["additionalProperties"] is False, "save_observation must refuse unknown arguments")
            props = save_schema["properties"]
            check(props["memory_type"]["default"] == "note" and props["importance"]["default"] == 2, props)
            check(props["importance"]["type"] == "integer", props["importance"])
            search_props = tools["search_memory"].input_schema["properties"]
            # search_mode left out: hybrid with a model, else the reference's default (ADR 0011).
            check(search_props["limit"]["default"] == 50 and search_props["search_mode"].get("default") is None, search_props)
            check(search_props["queries"]["items"]["type"] == "string", search_props)
            check("required" not in tools["search_memory"].input_schema, "search_memory needs no argument")
            recall_props = tools["recall_context"].input_schema["properties"]
            check(recall_props["limit"]["default"] == 20 and recall_props["search_mode"].get("default") is None, recall_props)
            check(tools["get_memory"].input_schema["required"] == ["observation_id"], "get_memory requires the id")
            for t in tools.values():
                check(t.description and len(t.description) > 40, f"{t.name} needs a description")

            # save_observation: success and every refusal.
            first = await save(s, "Retries use exponential backoff capped at 30 s", "retry policy", "backoff capped at 30 s", project="payments", memory_type="decision", importance=4, tags=["retry"], references=["#12"])
            check(list(first) == ["observation_id", "status", "visibility", "warnings"], list(first))
            check(first["visibility"] == "mesh" and first["warnings"] == [], first)
            revised = await save(s, "Retries now cap at 60 s", "Retry  Policy", "cap raised to 60 s", project="payments", memory_type="decision", ttl_sec=3600, supersedes=[first["observation_id"]])
            check("supersede_candidates" not in revised, "no suggestions when supersedes is given")
            check(revised["expires_at"].endswith("Z"), revised)
            older = await save(s, "Use a queue", "job runner", "queue chosen", project="ops", memory_type="config")
            newer = await save(s, "Use cron", "Job  Runner", "cron chosen", project="ops", memory_type="config")
            check(newer["supersede_candidates"] == [{"observation_id": older["observation_id"], "created_at": newer["supersede_candidates"][0]["created_at"], "summary": "queue chosen"}], newer)
            noisy = await save(s, "done", "status", "noise")
            check(noisy["warnings"][0]["code"] == "GENERIC_NOISE", noisy)
            msg = await call(s, "save_observation", {"content": "c", "summary": "m"}, error=True)
            check("subject" in msg, msg)
            msg = await call(s, "save_observation", {"content": "c", "subject": "-", "summary": "m"}, error=True)
            check(msg.startswith("subject required"), msg)
            msg = await call(s, "save_observation", {"content": "c", "subject": "s", "summary": "m", "memory_type": "insight"})
            check(msg == "memory_type must be one of ['bug', 'config', 'decision', 'note', 'pattern', 'summary']. got: 'insight'", msg)
            msg = await call(s, "save_observation", {"content": "body</content>\n<subject>x", "subject": "s", "summary": "m"}, error=True)
            check("tool-call markup" in msg, msg)
            msg = await call(s, "save_observation", {"content": "c", "subject": "s", "summary": "m", "expires_at": "soon"})
            check(msg == "expires_at must be ISO 8601; got 'soon'", msg)
            msg = await call(s, "save_observation", {"content": "c", "subject": "s", "summary": "m", "visibility": "user"})
            check("requires a user_id" in msg, msg)
            await call(s, "save_observation", {"content": "c", "subject": "s", "summary": "m", "importance": "high"}, error=True)
            await call(s, "save_observation", {"content": "c", "subject": "s", "summary": "m", "agent_family": "spoofed"}, error=True)
            msg = await call(s, "no_such_tool", {}, error=True)
            check(msg == "Unknown tool: 'no_such_tool'", msg)

            # search_memory.
            found = await call(s, "search_memory", {"query": "backoff", "include_superseded": True})
            check(found.startswith("[decision][4] ") and " (payments) retry policy (refs: #12)\n" in found, found)
            check(found.endswith(f"<id={first['observation_id']}>"), found)
            check("[origin:" not in found, "an entry from this host has no origin note")
            hidden = await call(s, "search_memory", {"query": "Retries", "project": "payments"})
            check(first["observation_id"] not in hidden and revised["observation_id"] in hidden, "the superseded entry is hidden")
            shown = await call(s, "search_memory", {"query": "Retries", "include_superseded": True})
            check(first["observation_id"] in shown, "include_superseded shows it")
            fell = await call(s, "search_memory", {"query": "queue nonexistentterm"})
            check(fell.startswith("(no AND match; fell back to OR)\n[config]"), fell)
            check(await call(s, "search_memory", {"query": "zzqqxx"}) == "No matching memories.", "empty result text")
            msg = await call(s, "search_memory", {"query": "x", "search_mode": "bogus"})
            check(msg == "search_mode must be one of 'and', 'or', 'and_or', 'hybrid', got 'bogus'", msg)
            msg = await call(s, "search_memory", {"since_iso": "yesterday"})
            check("since_iso must be an ISO 8601 timestamp" in msg, msg)
            foreign = await call(s, "search_memory", {"query": "foreign marker"})
            check("[origin: bob@elsewhere, other pc]" in foreign, foreign)
            check(await call(s, "search_memory", {"query": "backoff", "since_iso": "2999-01-01"}) == "No matching memories.", "since filters")

            # Project aliases: the product's old name finds the new one and back.
            alias = await save(s, "aliasprobe under the old project name", project="mesh-mem")
            check(alias["observation_id"] in await call(s, "search_memory", {"query": "aliasprobe", "project": "kioku-mesh"}), "alias")

            # The 20,000-byte cap, with three-byte characters.
            for i in range(40):
                await save(s, f"capprobe entry {i}", "capprobe", "日本語の要約" * 40 + f" {i}")
            capped = await call(s, "search_memory", {"query": "capprobe", "limit": 100})
            size = len(capped.encode("utf-8"))
            check(size <= CAP, f"{size} bytes")
            m = re.search(r"\[truncated: showing (\d+) of 40 result\(s\); output capped at 20000 bytes\]$", capped)
            check(m, capped[-200:])
            shown_ids = ID.findall(capped)
            check(len(shown_ids) == int(m.group(1)) and len(shown_ids) > 5, (len(shown_ids), m.group(1)))
            check(size > CAP - 1500, f"the budget is used: {size}")
            huge = await save(s, "hugeprobe", "hugeprobe", "検" * 10_000)
            cut = await call(s, "search_memory", {"query": "hugeprobe"})
            check(len(cut.encode("utf-8")) <= CAP, len(cut.encode("utf-8")))
            check(cut.startswith("[note][2] ") and f"… <id={huge['observation_id']}>" in cut, cut[-300:])
            check(cut.endswith("[truncated: showing 1 of 1 result(s); output capped at 20000 bytes]"), cut[-120:])

            # get_memory.
            full = await call(s, "get_memory", {"observation_id": first["observation_id"]})
            for line in ["memory_type: decision", "importance: 4", "project: payments", "tags: retry", "references: #12", f"superseded_by: {revised['observation_id']}", "state: superseded", "origin: "]:
                check(line in full, f"{line!r} missing from {full}")
            check(full.endswith("---\nRetries use exponential backoff capped at 30 s"), full)
            check(await call(s, "get_memory", {"observation_id": "abc"}) == "observation_id must be a full 32-character match.", "short id")
            missing = "0" * 32
            check(await call(s, "get_memory", {"observation_id": missing}) == f"observation_id {missing} not found.", "missing id")
            foreign_id = ID.search(foreign).group(1)
            check("origin: bob@elsewhere (other pc)" in await call(s, "get_memory", {"observation_id": foreign_id}), "origin line")

            # recall_context.
            recalled = await call(s, "recall_context", {"project": "payments"})
            check(recalled.startswith("recall_context: 1 result(s)\nfilters: project='payments'\n### project=payments / memory_type=decision\n\n"), recalled)
            check(f"id: {revised['observation_id']}\nstate: live" in recalled and "content:\nRetries now cap at 60 s" in recalled, recalled)
            typed = await call(s, "recall_context", {"memory_types": ["decision"], "limit": 5})
            check("memory_types=['decision']" in typed and "memory_type=note" not in typed, typed)
            msg = await call(s, "recall_context", {"memory_types": ["bogus"]})
            check(msg.startswith("memory_types contains invalid values ['bogus']"), msg)
            check(await call(s, "recall_context", {"query": "zzqqxx"}) == "No matching current context.", "empty recall")
            alias_recall = await call(s, "recall_context", {"project": "kioku-mesh"})
            check("filters: project='kioku-mesh' (also matching 'mesh-mem')" in alias_recall, alias_recall)

            # delete_memory.
            check(await call(s, "delete_memory", {"observation_id": revised["observation_id"], "reason": "test"}) == f"deleted (tombstone): {revised['observation_id']}", "delete")
            check("state: tombstoned" in await call(s, "get_memory", {"observation_id": revised["observation_id"]}), "tombstoned")
            back = await call(s, "search_memory", {"query": "Retries"})
            check(first["observation_id"] in back, "deleting the superseder brings the older entry back")
            check(await call(s, "delete_memory", {"observation_id": missing}) == f"observation_id {missing} not found.", "delete missing")
            check(await call(s, "delete_memory", {"observation_id": "xyz"}) == "observation_id must be a full 32-character match.", "delete short")

            # get_memory_status and drain_pending_puts.
            status = await call(s, "get_memory_status", {})
            for line in ["backend: local", f"kioku-mesh version: {EXPECTED_VERSION}", "this_session_saves: ", "index_rows: live=", "family (last 7d):", "  family_7d claude: "]:
                check(line in status, f"{line!r} missing from {status}")
            saves = int(re.search(r"this_session_saves: (\d+)", status).group(1))
            check(saves == 46, f"this session has 46 visible saves, status says {saves}")
            check(await call(s, "drain_pending_puts", {}) == "pending_puts drain complete: drained=0, remaining=0", "drain")
            check(await call(s, "drain_pending_puts", {"limit": 0}) == "limit must be 1 or greater.", "drain limit")

    # Every line the server wrote to stdout is a JSON-RPC message.
    with open(STDOUT_LOG, encoding="utf-8") as f:
        lines = [line for line in f.read().split("\n") if line]
    check(len(lines) > 20, f"only {len(lines)} lines of protocol")
    for line in lines:
        message = json.loads(line)
        check(message.get("jsonrpc") == "2.0", line[:200])
    print(f"ok: {len(lines)} protocol lines")


asyncio.run(main())
