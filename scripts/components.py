"""Prints spin.toml's component ids: `http` = those behind an HTTP trigger, `workers` = the rest."""
import sys
import tomllib
from pathlib import Path

manifest = tomllib.loads((Path(__file__).resolve().parent.parent / "spin.toml").read_text())
triggers = manifest.get("trigger", {})
http = {t["component"] for t in triggers.get("http", [])}
all_components = set(manifest.get("component", {}))
# A component with both an HTTP route and a cron/redis trigger runs as a worker too.
event_driven = {t["component"] for kind, ts in triggers.items() if kind != "http" for t in ts}
which = sys.argv[1] if len(sys.argv) > 1 else "http"
chosen = http if which == "http" else (event_driven | (all_components - http))
print(" ".join(sorted(chosen)))
