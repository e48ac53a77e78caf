#!/usr/bin/env python3
"""A deliberately faulty MCP server (stdio) for tests/mcp.rs: endure's handling of servers
that crash, hang or answer with malformed JSON-RPC.

Usage: faulty.py MODE [STATE_DIR]
  crash       tool `crash` exits the process mid-call (code 3); `ping` answers "pong",
              `cwd` the directory it runs in
  hang        tool `hang` never answers; `ping` still answers
  hang-start  never answers `initialize`
  malformed   tool `garbage` answers with a line that is not JSON; `wrong` with a
              JSON-RPC response whose result is not a tools/call result
Every start appends a line to STATE_DIR/starts when STATE_DIR is given.
"""
import json
import os
import sys

mode = sys.argv[1]
state = sys.argv[2] if len(sys.argv) > 2 else None
if state:
    with open(os.path.join(state, "starts"), "a") as f:
        f.write(f"{os.getpid()}\n")


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def tool(name):
    return {"name": name, "description": f"the {name} tool", "inputSchema": {"type": "object", "properties": {}}}


TOOLS = {
    "crash": [tool("crash"), tool("ping"), tool("cwd")],
    "hang": [tool("hang"), tool("ping")],
    "hang-start": [],
    "malformed": [tool("garbage"), tool("wrong"), tool("ping")],
}[mode]

for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    msg = json.loads(line)
    method, rid = msg.get("method"), msg.get("id")
    if rid is None:
        continue  # notifications (initialized, cancelled) need no answer
    if method == "initialize":
        if mode == "hang-start":
            continue
        send({"jsonrpc": "2.0", "id": rid, "result": {
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": f"faulty-{mode}", "version": "0"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": rid, "result": {"tools": TOOLS}})
    elif method == "tools/call":
        name = msg["params"]["name"]
        if name == "ping":
            send({"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": "pong"}]}})
        elif name == "cwd":
            send({"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": os.getcwd()}]}})
        elif name == "crash":
            sys.stderr.write("crashing on purpose\n")
            sys.stderr.flush()
            os._exit(3)
        elif name == "hang":
            pass
        elif name == "garbage":
            sys.stdout.write("this is not json-rpc\n")
            sys.stdout.flush()
        elif name == "wrong":
            send({"jsonrpc": "2.0", "id": rid, "result": {"content": "not a list"}})
    else:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": f"no method {method}"}})
