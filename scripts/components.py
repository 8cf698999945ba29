"""Prints spin.toml's component ids for the two host processes of a deployment, as the host
reads the manifest (`todo-host inspect`): `http` = components triggered by HTTP only (the API
process), `workers` = every other component with a trigger (Redis- and cron-triggered ones,
whose Redis trigger exits when Redis drops).

Usage: components.py http|workers  (the host binary: $TODO_HOST_BIN, else target/debug/todo-host)
"""
import json
import os
import subprocess
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
host = os.environ.get("TODO_HOST_BIN") or str(root / "target" / "debug" / "todo-host")
which = sys.argv[1] if len(sys.argv) > 1 else "http"
if which not in ("http", "workers"):
    sys.exit("usage: components.py http|workers")
if not os.access(host, os.X_OK):
    sys.exit(f"components.py: no host binary at {host}: build it with `cargo build -p todo-host`")
# With the runtime config `spin up` is given (it declares the key-value stores spin.toml uses).
proc = subprocess.run([host, "inspect", "-f", str(root / "spin.toml"),
                       "--runtime-config-file", str(root / "runtime-config.toml")], capture_output=True, text=True)
if proc.returncode != 0:
    sys.exit(f"components.py: {host} inspect failed:\n{proc.stderr}")
components = json.loads(proc.stdout)["components"]
kinds = {cid: {t["type"] for t in c["triggers"]} for cid, c in components.items()}
http_only = {cid for cid, k in kinds.items() if k == {"http"}}
workers = {cid for cid, k in kinds.items() if k and k != {"http"}}
print(" ".join(sorted(http_only if which == "http" else workers)))
