"""Time an MCP server through the official Python MCP SDK.

    python mcp_bench.py <server> <n-initialize> <n-search> <terms-file>

The terms file has one line per query kind (space-separated terms, each
matching ten observations): identifier-like terms, then common-prefix terms.
Prints one JSON object: initialize times (spawn to initialize reply), a
trivial tool call (the client and transport floor), and search_memory
latencies per query kind (one session, distinct queries), in milliseconds.
"""

import asyncio
import json
import os
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SERVER = sys.argv[1]
N_INIT = int(sys.argv[2])
N_SEARCH = int(sys.argv[3])
with open(sys.argv[4], encoding="utf-8") as f:
    KINDS = {name: line.split() for name, line in zip(("selective", "common_prefix"), f.read().splitlines())}


async def one_session(searches):
    params = StdioServerParameters(command=SERVER, args=[], env=dict(os.environ))
    started = time.perf_counter()
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            init_ms = (time.perf_counter() - started) * 1e3
            floor = []
            for _ in range(searches):
                t = time.perf_counter()
                await session.call_tool("get_memory", {"observation_id": "abc"})
                floor.append((time.perf_counter() - t) * 1e3)
            latencies = {}
            for kind, terms in KINDS.items():
                latencies[kind] = []
                for i in range(searches):
                    query = terms[i % len(terms)]
                    t = time.perf_counter()
                    result = await session.call_tool("search_memory", {"query": query})
                    latencies[kind].append((time.perf_counter() - t) * 1e3)
                    if "<id=" not in result.content[0].text:
                        raise SystemExit(f"no hit for {query}: {result.content[0].text[:200]}")
                latencies[kind].sort()
            return init_ms, latencies, floor


async def main():
    inits = []
    for _ in range(N_INIT):
        init_ms, _, _ = await one_session(0)
        inits.append(init_ms)
    _, latencies, floor = await one_session(N_SEARCH)
    print(json.dumps({"initialize_ms": sorted(inits), "search_ms": latencies, "trivial_call_ms": sorted(floor)}))


asyncio.run(main())
