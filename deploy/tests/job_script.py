#!/usr/bin/env python3
"""Prints the shell script of the migrations Job (Job todo-migrate) as rendered from the
Minikube overlay, with its ConfigMap mount path /migrations replaced by argv[1], so
deploy/tests/migrate-job can run the exact script against a throw-away PostgreSQL."""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import validate  # noqa: E402

kubectl, _ = validate.pick_kubectl(os.environ.get("TODO_BACKEND_KUBECTL_BIN"))
objs = validate.render(validate.HERE / "overlays" / "minikube", kubectl)
job = next(o for o in objs if o["kind"] == "Job" and o["metadata"]["name"] == "todo-migrate")
pod = job["spec"]["template"]["spec"]
container = pod["containers"][0]
mount = next(m for m in container["volumeMounts"] if m["name"] == "migrations")["mountPath"]
assert container["command"] == ["/bin/sh", "-c"], container["command"]
print(container["args"][0].replace(mount, sys.argv[1]), end="")
