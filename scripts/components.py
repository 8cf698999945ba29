"""Prints spin.toml's component ids for the two host processes of a deployment:
`http` = components with only HTTP triggers (the API process), `workers` = every other
component (Redis- and cron-triggered ones, whose Redis trigger exits when Redis drops; a
worker may also carry an HTTP route, such as a sweep route)."""
import sys
import tomllib
from pathlib import Path

manifest = tomllib.loads((Path(__file__).resolve().parent.parent / "spin.toml").read_text())
triggers = manifest.get("trigger", {})
components = set(manifest.get("component", {}))
event_driven = {t["component"] for kind, ts in triggers.items() if kind != "http" for t in ts}
which = sys.argv[1] if len(sys.argv) > 1 else "http"
chosen = (components - event_driven) if which == "http" else event_driven
print(" ".join(sorted(chosen)))
