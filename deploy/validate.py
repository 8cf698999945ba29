#!/usr/bin/env python3
"""Offline validation of the todo-backend Kubernetes manifests (deploy/).

For every kustomization (default: deploy/base and each deploy/overlays/*):
  1. render it (`kubectl kustomize`, `kustomize build`, or the built-in kustomize_lite);
  2. validate SpinKube custom resources against their CRD's openAPIV3Schema, strictly
     (unknown fields are errors, as with `kubectl apply`'s default strict field validation);
  3. validate every other resource against the Kubernetes JSON schemas (kubernetes-validate,
     strict) for each version in --kube-versions;
  4. check the SpinApps against spin.toml: every component the shim can run is deployed
     exactly once; components with a trigger the shim lacks (cron) are never deployed and
     are each replaced by exactly one CronJob; every named component exists; variables are
     valid Spin names declared in spin.toml; every variable without default is given to every
     SpinApp (Spin refuses to start otherwise), every variable a deployed component uses is
     given to its SpinApp, secret variables come from Secrets; references to Secrets and
     ConfigMaps resolve; key-value stores are in the runtime config; health checks and
     CronJob URLs hit routes of the right components.

Base kustomizations (a folder named `base`) may reference Secrets/ConfigMaps/executors that
an overlay provides; every other kustomization must be self-contained.
Exit status: 0 when everything passes, 1 on any problem, 2 on a usage/tooling error.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# Trigger types containerd-shim-spin runs (its get_supported_triggers); any other trigger
# of a retained component makes the shim fail at start.
SHIM_TRIGGERS = {"http", "redis", "sqs", "mqtt", "command"}
SPIN_GROUP = "core.spinkube.dev"
CRON_ANNOTATION = "todo-backend/replaces-cron-component"
RUNTIME_CONFIG_KEY = "runtime-config.toml"
# kubectl's client-side apply stores the whole object in an annotation, limited to 256 KiB.
LAST_APPLIED_LIMIT = 262144

# Spin's ids (spin-manifest): words of ASCII letters and digits, each starting with a letter.
# Variable names are lower_snake_case, component ids kebab-case (lowercase here: they also
# appear in Kubernetes objects).
VARIABLE_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z][a-z0-9]*)*$")
COMPONENT_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*$")
TEMPLATE_REF = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
URL_IN_ARG = re.compile(r"(https?)://([A-Za-z0-9.-]+)(?::(\d+))?(/[^\s\"']*)?")


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")


# --------------------------------------------------------------------------- spin.toml


@dataclass
class Component:
    id: str
    triggers: list[dict] = field(default_factory=list)  # {"type", "route"/"channel", ...}
    variables_used: set[str] = field(default_factory=set)
    key_value_stores: list[str] = field(default_factory=list)
    component_variables: dict[str, str] = field(default_factory=dict)  # [component.X.variables]
    allowed_outbound_hosts: list[str] = field(default_factory=list)

    @property
    def trigger_types(self) -> set[str]:
        return {t["type"] for t in self.triggers}

    @property
    def shim_runnable(self) -> bool:
        return bool(self.triggers) and self.trigger_types <= SHIM_TRIGGERS


@dataclass
class SpinApp:
    path: Path
    variables: dict[str, dict]
    components: dict[str, Component]
    # variables used by the app-level config of a trigger type (e.g. the Redis address)
    trigger_type_variables: dict[str, set[str]]
    trigger_configs: dict[str, dict] = field(default_factory=dict)  # [application.trigger.<type>]


def template_refs(value) -> set[str]:
    refs: set[str] = set()
    if isinstance(value, str):
        refs.update(TEMPLATE_REF.findall(value))
    elif isinstance(value, list):
        for v in value:
            refs |= template_refs(v)
    elif isinstance(value, dict):
        for v in value.values():
            refs |= template_refs(v)
    return refs


def load_spin_toml(path: Path, problems: Problems) -> SpinApp | None:
    where = str(path)
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        problems.add(where, f"cannot read: {e}")
        return None
    if doc.get("spin_manifest_version") != 2:
        problems.add(where, "only spin_manifest_version = 2 is supported")
        return None
    variables: dict[str, dict] = {}
    for name, spec in (doc.get("variables") or {}).items():
        if not VARIABLE_NAME.match(name):
            problems.add(where, f"variable {name!r} is not a valid Spin variable name (lower_snake_case)")
        if not isinstance(spec, dict):
            problems.add(where, f"variable {name!r} must be a table")
            continue
        if spec.get("required") and "default" in spec:
            problems.add(where, f"variable {name!r} is both required and has a default")
        if not spec.get("required") and "default" not in spec:
            problems.add(where, f"variable {name!r} must be required or have a default")
        variables[name] = spec

    components: dict[str, Component] = {}
    for cid, spec in (doc.get("component") or {}).items():
        if not COMPONENT_ID.match(cid):
            problems.add(where, f"component id {cid!r} is not a valid kebab-case id")
        comp = Component(cid)
        spec = spec or {}
        comp.variables_used |= template_refs(spec.get("variables") or {})
        comp.variables_used |= template_refs(spec.get("allowed_outbound_hosts") or [])
        comp.key_value_stores = list(spec.get("key_value_stores") or [])
        comp.component_variables = {k: v for k, v in (spec.get("variables") or {}).items() if isinstance(v, str)}
        comp.allowed_outbound_hosts = [h for h in (spec.get("allowed_outbound_hosts") or []) if isinstance(h, str)]
        components[cid] = comp

    app_trigger_cfg = (doc.get("application") or {}).get("trigger") or {}
    trigger_type_variables = {t: template_refs(cfg) for t, cfg in app_trigger_cfg.items()}
    http_base = (app_trigger_cfg.get("http") or {}).get("base", "/")

    for ttype, triggers in (doc.get("trigger") or {}).items():
        if not isinstance(triggers, list):
            problems.add(where, f"[trigger.{ttype}] must be an array of tables ([[trigger.{ttype}]])")
            continue
        for trig in triggers:
            target = trig.get("component")
            ids = [target] if isinstance(target, str) else []
            if isinstance(trig.get("components"), dict):
                for v in trig["components"].values():
                    ids += v if isinstance(v, list) else [v]
            if isinstance(target, dict):
                problems.add(where, f"a [[trigger.{ttype}]] uses an inline component: give it an id so a SpinApp can name it")
            for cid in ids:
                if cid not in components:
                    problems.add(where, f"[[trigger.{ttype}]] names unknown component {cid!r}")
                    continue
                t = {"type": ttype, "config": trig}
                if ttype == "http":
                    route = trig.get("route")
                    if isinstance(route, dict):  # { private = true }
                        route = None
                    if isinstance(route, str) and http_base not in ("", "/"):
                        route = http_base.rstrip("/") + "/" + route.lstrip("/")
                    t["route"] = route
                components[cid].triggers.append(t)
                components[cid].variables_used |= template_refs(
                    {k: v for k, v in trig.items() if k not in ("component", "components")})

    for cid, comp in components.items():
        for ref in sorted(comp.variables_used):
            if ref not in variables:
                problems.add(where, f"component {cid!r} uses undeclared variable {ref!r}")
    for ttype, refs in trigger_type_variables.items():
        for ref in sorted(refs):
            if ref not in variables:
                problems.add(where, f"[application.trigger.{ttype}] uses undeclared variable {ref!r}")
    return SpinApp(path, variables, components, trigger_type_variables,
                   {t: c for t, c in app_trigger_cfg.items() if isinstance(c, dict)})


# Answered by Spin's HTTP trigger itself (200) in any app with an HTTP component.
SPIN_HEALTH_PATH = "/.well-known/spin/health"


def route_matches(route: str | None, path: str) -> bool:
    """Spin HTTP route matching: exact, or a trailing `/...` wildcard."""
    if not route:
        return False
    path = path.split("?", 1)[0] or "/"
    if route.endswith("/..."):
        prefix = route[: -len("/...")]
        return path == prefix or path.startswith(prefix + "/") or (prefix == "" and path.startswith("/"))
    return path.rstrip("/") == route.rstrip("/") or path == route


def route_owner(spin: SpinApp, path: str, retained: list[str]) -> str | None:
    """The retained component that serves `path` (exact routes beat wildcards, longest first)."""
    candidates = []
    for cid in retained:
        comp = spin.components.get(cid)
        if not comp:
            continue
        for t in comp.triggers:
            if t["type"] == "http" and route_matches(t.get("route"), path):
                r = t["route"]
                candidates.append((0 if not r.endswith("/...") else 1, -len(r), cid))
    return min(candidates)[2] if candidates else None


# --------------------------------------------------------------------------- rendering


def kustomize_version(kubectl: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True,
                             text=True, timeout=60).stdout
        v = json.loads(out).get("kustomizeVersion", "")
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    m = re.match(r"v?(\d+)\.(\d+)", v or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def pick_renderer(choice: str) -> tuple[str, list[str] | None]:
    """Returns (description, argv prefix) — argv None means the built-in renderer."""
    if choice in ("auto", "kubectl"):
        kubectl = shutil.which("kubectl")
        if kubectl:
            v = kustomize_version(kubectl)
            if v and v >= (5, 0):
                return f"kubectl kustomize (kustomize v{v[0]}.{v[1]})", [kubectl, "kustomize"]
        if choice == "kubectl":
            raise SystemExit("validate: --renderer kubectl: no kubectl with kustomize v5 on PATH")
    if choice in ("auto", "kustomize"):
        kz = shutil.which("kustomize")
        if kz:
            return "kustomize build", [kz, "build"]
        if choice == "kustomize":
            raise SystemExit("validate: --renderer kustomize: no kustomize on PATH")
    return "built-in kustomize_lite", None


def render(kdir: Path, renderer: list[str] | None) -> list[dict]:
    if renderer is None:
        sys.path.insert(0, str(HERE))
        import kustomize_lite  # noqa: E402

        return kustomize_lite.build(kdir)
    proc = subprocess.run(renderer + [str(kdir)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RenderError(proc.stderr.strip() or f"exit {proc.returncode}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


class RenderError(Exception):
    pass


# --------------------------------------------------------------------------- schemas


def strict_schema(schema):
    """Structural-schema strictness: an object with `properties` and no
    `additionalProperties`/`x-kubernetes-preserve-unknown-fields` rejects unknown fields,
    as the API server does with strict field validation."""
    if isinstance(schema, dict):
        out = {k: strict_schema(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict_schema(v) for v in schema]
    return schema


def load_crds(crd_dir: Path, problems: Problems) -> dict[tuple[str, str], dict]:
    crds: dict[tuple[str, str], dict] = {}
    files = sorted(crd_dir.glob("*.yaml")) if crd_dir.is_dir() else []
    if not files:
        problems.add(str(crd_dir), "no CustomResourceDefinitions found (expected the SpinKube CRDs)")
    for f in files:
        for doc in yaml.safe_load_all(f.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            versions = {}
            for v in spec["versions"]:
                schema = strict_schema(v["schema"]["openAPIV3Schema"])
                jsonschema.Draft7Validator.check_schema(schema)
                versions[v["name"]] = {"served": v.get("served", False), "schema": schema}
            crds[(spec["group"], spec["names"]["kind"])] = {
                "versions": versions, "scope": spec.get("scope"), "file": f.name}
    return crds


def validate_cr(obj: dict, crds, where: str, problems: Problems) -> None:
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    crd = crds.get((group, obj.get("kind")))
    if not crd:
        problems.add(where, f"no CRD for {obj.get('apiVersion')} {obj.get('kind')}")
        return
    v = crd["versions"].get(version)
    if not v or not v["served"]:
        problems.add(where, f"{crd['file']} does not serve version {version!r} "
                            f"(served: {', '.join(k for k, x in crd['versions'].items() if x['served'])})")
        return
    validator = jsonschema.Draft7Validator(v["schema"])
    for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in err.absolute_path) or "(root)"
        problems.add(where, f"{path}: {err.message} (CRD schema {crd['file']})")


def validate_core(obj: dict, kube_versions: list[str], where: str, problems: Problems) -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError

    for kv in kube_versions:
        try:
            kubernetes_validate.validate(copy.deepcopy(obj), kv, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path) or "(root)"
            problems.add(where, f"{path}: {e.message} (Kubernetes {kv} schema)")
            return
        except SchemaNotFoundError:
            problems.add(where, f"no Kubernetes {kv} schema for {obj.get('apiVersion')} {obj.get('kind')}")
            return


# --------------------------------------------------------------------------- checks


def obj_id(obj: dict) -> str:
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{obj.get('kind')}/{md.get('name')}" + (f" (namespace {ns})" if ns else "")


def secret_data(obj: dict, where: str, problems: Problems) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (obj.get("data") or {}).items():
        try:
            out[k] = base64.b64decode("".join(str(v).split()), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            problems.add(where, f"data.{k} is not valid base64")
    for k, v in (obj.get("stringData") or {}).items():
        out[k] = str(v)
    return out


class Index:
    def __init__(self, objs: list[dict], problems: Problems, label: str) -> None:
        self.by_kind: dict[str, dict[tuple[str | None, str], dict]] = {}
        for o in objs:
            md = o.get("metadata") or {}
            key = (md.get("namespace"), md.get("name"))
            kind_map = self.by_kind.setdefault(o.get("kind"), {})
            if key in kind_map:
                problems.add(label, f"{obj_id(o)} appears twice")
            kind_map[key] = o

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        return self.by_kind.get(kind, {}).get((namespace, name))

    def all(self, kind: str) -> list[dict]:
        return list(self.by_kind.get(kind, {}).values())


def check_ref(index: Index, kind: str, ns, name, key, optional, strict, where, problems, what) -> str | None:
    """Resolves a Secret/ConfigMap key; returns its value when known."""
    obj = index.get(kind, ns, name)
    if obj is None:
        if strict and not optional:
            problems.add(where, f"{what}: {kind} {name!r} is not in this kustomization")
        return None
    if kind == "Secret":
        data = secret_data(obj, f"{kind}/{name}", problems)
    else:
        data = {**(obj.get("data") or {}), **{k: "<binary>" for k in (obj.get("binaryData") or {})}}
    if key not in data:
        if not optional:
            problems.add(where, f"{what}: {kind} {name!r} has no key {key!r}")
        return None
    return data[key]


def check_names(obj: dict, where: str, problems: Problems) -> None:
    name = (obj.get("metadata") or {}).get("name") or ""
    if not DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
        problems.add(where, f"metadata.name {name!r} is not a valid DNS-1123 subdomain")
    # spin-operator names a Deployment and a Service after a SpinApp; a CronJob's Jobs get an
    # 11-character suffix.
    limit = {"SpinApp": 63, "Service": 63, "CronJob": 52}.get(obj.get("kind"))
    if limit and (not DNS1035_LABEL.match(name) or len(name) > limit):
        problems.add(where, f"metadata.name {name!r} must be a DNS-1035 label of at most {limit} characters")
    size = len(json.dumps(obj, separators=(",", ":")))
    if size > LAST_APPLIED_LIMIT:
        problems.add(where, f"{size} bytes: too large for `kubectl apply` (last-applied annotation limit "
                            f"{LAST_APPLIED_LIMIT} bytes)")
    if obj.get("kind") in ("ConfigMap", "Secret"):
        for section in ("data", "stringData", "binaryData"):
            for k in (obj.get(section) or {}):
                if not CONFIG_KEY.match(k):
                    problems.add(where, f"{section} key {k!r} is not a valid ConfigMap/Secret key")


def check_spinapps(index: Index, spin: SpinApp, strict: bool, label: str, problems: Problems) -> None:
    apps = index.all("SpinApp")
    if not apps:
        return
    deployed: dict[str, list[str]] = {}
    for app in apps:
        md = app.get("metadata") or {}
        name, ns = md.get("name"), md.get("namespace")
        where = f"{label}: SpinApp/{name}"
        spec = app.get("spec") or {}
        # --- executor
        executor = spec.get("executor")
        if executor is None:
            pass  # reported by the CRD schema
        elif executor != "containerd-shim-spin":
            problems.add(where, f"executor is {executor!r}; the todo-backend manifests run on 'containerd-shim-spin'")
        if executor is not None and (index.all("SpinAppExecutor") or strict):
            ex = index.get("SpinAppExecutor", ns, executor)
            if ex is None:
                problems.add(where, f"SpinAppExecutor {executor!r} is not in this kustomization (executors are namespaced)")
            elif not ((ex.get("spec") or {}).get("deploymentConfig") or {}).get("runtimeClassName"):
                problems.add(f"{label}: SpinAppExecutor/{executor}", "deploymentConfig.runtimeClassName must name the shim's RuntimeClass")
        # --- image
        image = spec.get("image") or ""
        if strict and not re.search(r"(:[^/]+|@sha256:[0-9a-f]{64})$", image):
            problems.add(where, f"image {image!r} has no tag or digest (set it with the overlay's `images:`)")
        # --- components
        retained = spec.get("components")
        if retained is None:
            retained = list(spin.components)
            problems.add(where, "has no `components`: it would run every component, including ones the shim cannot run")
        seen = set()
        for cid in retained:
            if cid in seen:
                problems.add(where, f"component {cid!r} is listed twice")
            seen.add(cid)
            comp = spin.components.get(cid)
            if comp is None:
                problems.add(where, f"component {cid!r} is not in {spin.path.name}")
                continue
            deployed.setdefault(cid, []).append(name)
            bad = sorted(comp.trigger_types - SHIM_TRIGGERS)
            if bad:
                problems.add(where, f"component {cid!r} has a {'/'.join(bad)} trigger, which containerd-shim-spin "
                                    f"does not support: the pod would fail to start (run it from a CronJob instead)")
            elif not comp.triggers:
                problems.add(where, f"component {cid!r} has no trigger in {spin.path.name}")
        retained_comps = [spin.components[c] for c in dict.fromkeys(retained) if c in spin.components]

        # --- variables
        given: dict[str, dict] = {}
        values: dict[str, str | None] = {}  # resolved values, None when not known here
        for i, var in enumerate(spec.get("variables") or []):
            vname = var.get("name", "")
            vwhere = f"{where}: variables[{i}] {vname!r}"
            if not VARIABLE_NAME.match(vname):
                problems.add(vwhere, "not a valid Spin variable name (lower_snake_case: lowercase letters, digits, single underscores)")
            elif vname not in spin.variables:
                problems.add(vwhere, f"not declared in [variables] of {spin.path.name}")
            if vname in given:
                problems.add(vwhere, "given twice")
            given[vname] = var
            vf = var.get("valueFrom")
            if ("value" in var) == (vf is not None):
                problems.add(vwhere, "needs exactly one of value and valueFrom")
                continue
            secret = bool((spin.variables.get(vname) or {}).get("secret"))
            if vf is None:
                values[vname] = str(var.get("value"))
                if secret:
                    problems.add(vwhere, "is a secret variable: take it from a Secret (valueFrom.secretKeyRef), not a literal value")
                continue
            sources = [k for k in ("secretKeyRef", "configMapKeyRef", "fieldRef", "resourceFieldRef", "fileKeyRef") if k in vf]
            if len(sources) != 1:
                problems.add(vwhere, "valueFrom needs exactly one source")
                continue
            if secret and sources[0] != "secretKeyRef":
                problems.add(vwhere, "is a secret variable: take it from a Secret (valueFrom.secretKeyRef)")
            if sources[0] in ("secretKeyRef", "configMapKeyRef"):
                ref = vf[sources[0]]
                kind = "Secret" if sources[0] == "secretKeyRef" else "ConfigMap"
                if not ref.get("name"):
                    problems.add(vwhere, f"{sources[0]}.name is empty")
                    continue
                values[vname] = check_ref(index, kind, ns, ref["name"], ref.get("key"), ref.get("optional", False),
                                          strict, where, problems, f"variable {vname!r}")
        for vname, vspec in spin.variables.items():
            if vspec.get("required") and "default" not in vspec and vname not in given:
                problems.add(where, f"required variable {vname!r} (no default in {spin.path.name}) is not given: "
                                    f"Spin refuses to start without it")
        used = set()
        for comp in retained_comps:
            used |= comp.variables_used
            for ttype in comp.trigger_types:
                used |= spin.trigger_type_variables.get(ttype, set())
        for vname in sorted(used - set(given)):
            if vname in spin.variables and "default" in spin.variables[vname]:
                problems.add(where, f"variable {vname!r} is used by its components but not given "
                                    f"(its default {spin.variables[vname]['default']!r} is meant for local runs)")

        # --- outbound connections: what Spin would allow at run time
        for name_, vspec in spin.variables.items():
            if name_ not in given and "default" in vspec:
                values[name_] = str(vspec["default"])
        for comp in retained_comps:
            check_outbound(comp, values, index, ns, strict, where, problems)

        # --- runtime config / key-value stores
        stores = sorted({s for c in retained_comps for s in c.key_value_stores})
        rc_name = (spec.get("runtimeConfig") or {}).get("loadFromSecret")
        rc_doc = None
        if rc_name:
            text = check_ref(index, "Secret", ns, rc_name, RUNTIME_CONFIG_KEY, False, strict, where, problems,
                             "runtimeConfig.loadFromSecret")
            if text is not None:
                try:
                    rc_doc = tomllib.loads(text)
                except tomllib.TOMLDecodeError as e:
                    problems.add(where, f"Secret {rc_name!r} key {RUNTIME_CONFIG_KEY}: invalid TOML: {e}")
        if stores and not rc_name:
            problems.add(where, f"components use key-value store(s) {', '.join(stores)} but there is no "
                                "runtimeConfig.loadFromSecret: each pod would get its own local store")
        if rc_doc is not None:
            kv = rc_doc.get("key_value_store") or {}
            for label_ in stores:
                entry = kv.get(label_)
                if not isinstance(entry, dict):
                    problems.add(where, f"key-value store {label_!r} is not in the runtime config ({rc_name})")
                elif entry.get("type") == "redis" and not entry.get("url"):
                    problems.add(where, f"key-value store {label_!r} (redis) has no url in the runtime config")
                elif entry.get("type") == "redis":
                    check_in_cluster_url(str(entry["url"]), index, ns, strict, where, problems,
                                         f"runtime config key-value store {label_!r}")
        # --- the Redis trigger's address (application level), when this SpinApp has Redis triggers
        if any("redis" in c.trigger_types for c in retained_comps):
            cfg = spin.trigger_configs.get("redis") or {}
            address = resolve_template(str(cfg.get("address", "")), values) if cfg.get("address") else None
            if address:
                check_in_cluster_url(address, index, ns, strict, where, problems, "the Redis trigger address")

        # --- health checks
        has_http = any(t["type"] == "http" for c in retained_comps for t in c.triggers)
        for probe, cfg in (spec.get("checks") or {}).items():
            path = ((cfg or {}).get("httpGet") or {}).get("path")
            if path is None:
                continue
            if not has_http:
                problems.add(where, f"checks.{probe} on {path!r}, but no component of this SpinApp has an HTTP trigger")
            elif path.split("?", 1)[0] != SPIN_HEALTH_PATH and route_owner(spin, path, list(dict.fromkeys(retained))) is None:
                problems.add(where, f"checks.{probe} path {path!r} is not routed to any component of this SpinApp")

    # --- every runnable component deployed exactly once; cron components replaced by CronJobs
    for cid, comp in spin.components.items():
        where = f"{label}: {spin.path.name} component {cid!r}"
        places = deployed.get(cid, [])
        if comp.shim_runnable:
            if not places:
                problems.add(where, "is not deployed by any SpinApp")
            elif len(places) > 1:
                problems.add(where, f"is deployed {len(places)} times (SpinApps {', '.join(places)})")
    cron_comps = {cid for cid, c in spin.components.items() if c.triggers and not c.shim_runnable}
    covered: dict[str, list[str]] = {}
    for cj in index.all("CronJob"):
        target = ((cj.get("metadata") or {}).get("annotations") or {}).get(CRON_ANNOTATION)
        if target is None:
            continue
        covered.setdefault(target, []).append(cj["metadata"]["name"])
        if target not in cron_comps:
            problems.add(f"{label}: CronJob/{cj['metadata']['name']}",
                         f"{CRON_ANNOTATION}: {target!r} is not a cron-triggered component of {spin.path.name}")
    for cid in sorted(cron_comps):
        n = len(covered.get(cid, []))
        if n != 1:
            problems.add(f"{label}: {spin.path.name} component {cid!r}",
                         f"has a trigger the shim lacks ({'/'.join(sorted(spin.components[cid].trigger_types - SHIM_TRIGGERS))}) "
                         f"and must be replaced by exactly one CronJob (annotation {CRON_ANNOTATION}); found {n}")


DEFAULT_PORTS = {"postgres": 5432, "redis": 6379, "rediss": 6379, "mysql": 3306, "http": 80, "https": 443,
                 "mqtt": 1883}
URL_VALUE = re.compile(r"^([a-z][a-z0-9+.-]*)://(?:[^@/]*@)?(\[[^\]]+\]|[^:/?#]+)(?::(\d+))?")


def resolve_template(template: str, values: dict[str, str | None]) -> str | None:
    out = template
    for ref in TEMPLATE_REF.findall(template):
        v = values.get(ref)
        if v is None:
            return None
        out = re.sub(r"\{\{\s*" + re.escape(ref) + r"\s*\}\}", lambda _m: v, out)
    return out


def host_allowed(scheme: str, host: str, port: int, allowed: list[str]) -> bool:
    """Spin's allowed_outbound_hosts matching for the forms used here: scheme://host[:port],
    with `*` as a whole scheme, host or port, or a leading `*.` host wildcard."""
    for entry in allowed:
        m = re.match(r"^([a-z*][a-z0-9+.*-]*)://([^:/]+)(?::([0-9*]+))?/?$", entry)
        if not m:
            continue
        e_scheme, e_host, e_port = m.group(1), m.group(2), m.group(3)
        if e_scheme not in ("*", scheme) and not (scheme == "postgresql" and e_scheme == "postgres"):
            continue
        if e_host != "*" and e_host != host and not (e_host.startswith("*.") and host.endswith(e_host[1:])):
            continue
        if e_port is None:
            e_port_v = DEFAULT_PORTS.get(e_scheme)
            if e_port_v is None or e_port_v != port:
                continue
        elif e_port != "*" and int(e_port) != port:
            continue
        return True
    return False


def check_outbound(comp: Component, values: dict[str, str | None], index: "Index", ns, strict: bool,
                   where: str, problems: Problems) -> None:
    """A URL a component connects to (a [component.X.variables] value with a database or
    messaging scheme, or an http(s) value of a variable named *_url) must be allowed by
    its allowed_outbound_hosts once both are resolved with this SpinApp's values: Spin denies
    the connection otherwise. An in-cluster host (no dots) must be a Service with that port."""
    allowed = []
    for h in comp.allowed_outbound_hosts:
        r = resolve_template(h, values)
        if r is None:
            return  # not all values known here (e.g. base without its overlay)
        allowed.append(r)
    for cvar, template in sorted(comp.component_variables.items()):
        value = resolve_template(template, values)
        if not value:
            continue
        m = URL_VALUE.match(value)
        if not m or m.group(1) not in DEFAULT_PORTS:
            continue
        if m.group(1) in ("http", "https") and not cvar.endswith("_url"):
            continue  # e.g. cors_origins: URLs, but not ones the component connects to
        scheme, host, port = m.group(1), m.group(2), int(m.group(3) or DEFAULT_PORTS[m.group(1)])
        if not host_allowed(scheme, host, port, allowed):
            problems.add(where, f"component {comp.id!r}: {cvar} points at {scheme}://{host}:{port}, which its "
                                f"allowed_outbound_hosts ({', '.join(allowed) or 'none'}) do not allow: Spin would "
                                "refuse the connection")
        check_in_cluster_url(value, index, ns, strict, where, problems, f"component {comp.id!r}: {cvar}")


def check_in_cluster_url(url: str, index: "Index", ns, strict: bool, where: str, problems: Problems, what: str) -> None:
    """An in-cluster host (a bare name) in a URL must be a Service of this kustomization with that port."""
    m = URL_VALUE.match(url)
    if not strict or not m:
        return
    host, port = m.group(2), int(m.group(3) or DEFAULT_PORTS.get(m.group(1), 0))
    if "." in host or host == "localhost" or host[0].isdigit() or host.startswith("["):
        return
    svc = index.get("Service", ns, host)
    if svc is None:
        problems.add(where, f"{what} points at host {host!r}, which is not a Service in this kustomization")
    elif port not in [p.get("port") for p in (svc.get("spec") or {}).get("ports") or []]:
        problems.add(where, f"{what} points at {host}:{port}, but Service {host!r} has no such port")


def container_specs(obj: dict) -> list[dict]:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "CronJob":
        pod = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    elif kind == "Pod":
        pod = spec
    else:
        pod = (spec.get("template") or {}).get("spec") or {}
    return (pod.get("initContainers") or []) + (pod.get("containers") or [])


def check_workload_refs(index: Index, spin: SpinApp | None, strict: bool, label: str, problems: Problems) -> None:
    """Secret/ConfigMap references of pods resolve; CronJob URLs hit the right SpinApp routes."""
    apps = {(a["metadata"].get("namespace"), a["metadata"]["name"]): a for a in index.all("SpinApp")}
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"):
        for obj in index.all(kind):
            ns = obj["metadata"].get("namespace")
            where = f"{label}: {kind}/{obj['metadata']['name']}"
            for c in container_specs(obj):
                for e in c.get("env") or []:
                    vf = e.get("valueFrom") or {}
                    for src, k in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                        if src in vf:
                            r = vf[src]
                            check_ref(index, k, ns, r.get("name"), r.get("key"), r.get("optional", False),
                                      strict, where, problems, f"container {c.get('name')} env {e.get('name')}")
                for ef in c.get("envFrom") or []:
                    for src, k in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                        if src in ef and strict and not ef[src].get("optional") and index.get(k, ns, ef[src].get("name")) is None:
                            problems.add(where, f"container {c.get('name')} envFrom: {k} {ef[src].get('name')!r} is not in this kustomization")
                if kind != "CronJob" or spin is None:
                    continue
                for arg in (c.get("command") or []) + (c.get("args") or []):
                    for m in URL_IN_ARG.finditer(str(arg)):
                        host, path = m.group(2), m.group(4) or "/"
                        svc = host.split(".")[0]
                        svc_ns = host.split(".")[1] if "." in host else ns
                        app = apps.get((svc_ns, svc))
                        if app is None:
                            if index.get("Service", svc_ns, svc) is None:
                                problems.add(where, f"calls {m.group(0)}: no SpinApp or Service {svc!r} in this kustomization")
                            continue
                        retained = (app.get("spec") or {}).get("components") or list(spin.components)
                        owner = route_owner(spin, path, retained)
                        if owner is None:
                            problems.add(where, f"calls {m.group(0)}: SpinApp {svc!r} has no component routed at {path!r}")
            if strict:
                pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
                if kind == "CronJob":
                    pod = (((obj["spec"].get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
                for vol in pod.get("volumes") or []:
                    for src, k, key in (("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName")):
                        if src in vol and not vol[src].get("optional") and index.get(k, ns, vol[src].get(key)) is None:
                            problems.add(where, f"volume {vol.get('name')}: {k} {vol[src].get(key)!r} is not in this kustomization")


def check_order(objs: list[dict], label: str, problems: Problems) -> None:
    """`kubectl apply -k` creates objects in the rendered order: a Namespace must come before
    what it holds, and a SpinAppExecutor before the SpinApps using it (spin-operator's
    admission webhook rejects a SpinApp whose executor does not exist yet)."""
    seen: set[tuple[str, str | None, str]] = set()
    present = {(o.get("kind"), (o.get("metadata") or {}).get("namespace"), (o.get("metadata") or {}).get("name"))
               for o in objs}
    for o in objs:
        md = o.get("metadata") or {}
        ns = md.get("namespace")
        if ns and ("Namespace", None, ns) in present and ("Namespace", None, ns) not in seen:
            problems.add(label, f"{obj_id(o)} comes before its Namespace {ns!r} (set sortOptions.order: fifo "
                                "and list the Namespace first)")
        if o.get("kind") == "SpinApp":
            ex = (o.get("spec") or {}).get("executor")
            if ("SpinAppExecutor", ns, ex) in present and ("SpinAppExecutor", ns, ex) not in seen:
                problems.add(label, f"{obj_id(o)} comes before SpinAppExecutor {ex!r}: spin-operator's webhook "
                                    "would reject it on the first apply (set sortOptions.order: fifo)")
        seen.add((o.get("kind"), ns, md.get("name")))


# --------------------------------------------------------------------------- main


def default_kustomizations() -> list[Path]:
    dirs = [HERE / "base"]
    overlays = HERE / "overlays"
    if overlays.is_dir():
        dirs += sorted(p for p in overlays.iterdir() if (p / "kustomization.yaml").is_file())
    return dirs


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="deploy/validate", description=__doc__.split("\n")[0])
    ap.add_argument("kustomizations", nargs="*", type=Path,
                    help="kustomization folders (default: deploy/base and deploy/overlays/*)")
    ap.add_argument("--spin-toml", type=Path, default=REPO / "spin.toml")
    ap.add_argument("--crd-dir", type=Path, default=REPO.parent / "shared" / "reference" / "spinkube")
    ap.add_argument("--kube-versions", default="1.30,1.34",
                    help="Kubernetes versions to validate core resources against (comma-separated)")
    ap.add_argument("--renderer", choices=["auto", "kubectl", "kustomize", "builtin"],
                    default=os.environ.get("TODO_BACKEND_RENDERER", "auto"),
                    help="default: $TODO_BACKEND_RENDERER or auto (kubectl, then kustomize, then built-in)")
    ap.add_argument("--dump", type=Path, help="write each rendering to this folder")
    args = ap.parse_args(argv)

    problems = Problems()
    spin = load_spin_toml(args.spin_toml, problems)
    crds = load_crds(args.crd_dir, problems)
    desc, renderer = pick_renderer(args.renderer)
    kube_versions = [v.strip() for v in args.kube_versions.split(",") if v.strip()]
    kdirs = args.kustomizations or default_kustomizations()
    print(f"validate: renderer {desc}; spin.toml {args.spin_toml}; CRDs {args.crd_dir}")
    total = 0
    for kdir in kdirs:
        kdir = kdir.resolve()
        label = os.path.relpath(kdir, Path.cwd()) if kdir.is_relative_to(Path.cwd()) else str(kdir)
        strict = kdir.name != "base"
        before = len(problems.items)
        try:
            objs = render(kdir, renderer)
        except Exception as e:  # noqa: BLE001 — any renderer failure is a finding
            problems.add(label, f"does not render: {e}")
            print(f"  FAIL {label}: does not render")
            continue
        if args.dump:
            args.dump.mkdir(parents=True, exist_ok=True)
            (args.dump / (label.replace("/", "_") + ".yaml")).write_text(yaml.safe_dump_all(objs, sort_keys=False))
        index = Index(objs, problems, label)
        for obj in objs:
            where = f"{label}: {obj_id(obj)}"
            if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
                problems.add(label, f"an object without apiVersion/kind: {str(obj)[:80]}")
                continue
            check_names(obj, where, problems)
            group = obj["apiVersion"].rpartition("/")[0]
            if group == SPIN_GROUP or (group, obj["kind"]) in crds:
                validate_cr(obj, crds, where, problems)
            else:
                validate_core(obj, kube_versions, where, problems)
        if strict:
            check_order(objs, label, problems)
        if spin is not None:
            check_spinapps(index, spin, strict, label, problems)
        check_workload_refs(index, spin, strict, label, problems)
        total += len(objs)
        n = len(problems.items) - before
        kinds = sorted({o.get("kind") for o in objs})
        print(f"  {'ok  ' if n == 0 else 'FAIL'} {label}: {len(objs)} objects ({', '.join(kinds)})"
              + ("" if n == 0 else f", {n} problem(s)"))

    for p in problems.items:
        print(f"ERROR {p}")
    if problems.items:
        print(f"validate: {len(problems.items)} problem(s)")
        return 1
    print(f"validate: OK ({len(kdirs)} kustomization(s), {total} objects)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
