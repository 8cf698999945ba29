#!/usr/bin/env python3
"""A small renderer of the kustomize subset deploy/ uses, for machines without kubectl.

deploy/validate prefers the real tool (`kubectl kustomize`, kustomize v5, or `kustomize
build`); this is its fallback. It implements, with kustomize v5 semantics:
  resources (YAML files, and folders holding a kustomization), namespace, images (with
  `configurations:` image field specs, inherited from bases as kustomize does),
  configMapGenerator / secretGenerator (envs, files, literals, options.labels/annotations,
  type) with generatorOptions.disableNameSuffixHash: true, and patches with an inline JSON
  6902 patch and a kind/name/namespace target.
Anything else in a kustomization is refused with an error instead of being rendered
differently. `--compare DIR...` renders with both this and kubectl and reports every
difference (deploy/tests/run uses it to keep this renderer faithful).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "configurations",
                    "generatorOptions", "configMapGenerator", "secretGenerator", "patches", "sortOptions"}
# kustomize's legacy output order (the default sortOptions): these kinds first, in this
# order, the webhook configurations last, everything else in between; ties by
# group_version_kind, then namespace and name.
LEGACY_FIRST = ["Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
                "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
                "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
                "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget"]
LEGACY_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
# Kinds kustomize's namespace transformer leaves without a namespace (cluster-scoped).
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                  "PersistentVolume", "StorageClass", "RuntimeClass", "PriorityClass", "APIService",
                  "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "Node",
                  "CSIDriver", "CSINode", "VolumeAttachment", "IngressClass",
                  "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


class KustomizeError(Exception):
    pass


def _load_kustomization(kdir: Path) -> dict:
    for name in KUSTOMIZATION_FILES:
        p = kdir / name
        if p.is_file():
            doc = yaml.safe_load(p.read_text()) or {}
            unknown = set(doc) - SUPPORTED_FIELDS
            if unknown:
                raise KustomizeError(f"{p}: kustomize_lite does not support {', '.join(sorted(unknown))}")
            return doc
    raise KustomizeError(f"{kdir}: no kustomization.yaml")


def _inside(root: Path, rel: str) -> Path:
    """kustomize's default load restriction: files must lie inside the kustomization root."""
    p = (root / rel).resolve()
    if p != root and root not in p.parents:
        raise KustomizeError(f"security; file '{p}' is not in or below '{root}'")
    return p


def _env_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    text = path.read_text(encoding="utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    for n, line in enumerate(text.splitlines(), 1):
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise KustomizeError(f"{path}:{n}: kustomize_lite needs KEY=VALUE lines (no values from the environment)")
        k, v = line.split("=", 1)
        if not k or k != k.strip():
            raise KustomizeError(f"{path}:{n}: invalid key {k!r}")
        pairs.append((k, v))
    return pairs


def _generate(root: Path, spec: dict, kind: str, options: dict) -> dict:
    allowed = {"name", "envs", "files", "literals", "options", "type", "behavior", "namespace"}
    unknown = set(spec) - allowed
    if unknown:
        raise KustomizeError(f"{root}: {kind} generator: kustomize_lite does not support {', '.join(sorted(unknown))}")
    if spec.get("behavior", "create") != "create":
        raise KustomizeError(f"{root}: generator behavior {spec['behavior']!r} is not supported by kustomize_lite")
    if not options.get("disableNameSuffixHash") and not (spec.get("options") or {}).get("disableNameSuffixHash"):
        raise KustomizeError(f"{root}: kustomize_lite needs generatorOptions.disableNameSuffixHash: true")
    data: dict[str, bytes] = {}

    def put(k: str, v: bytes) -> None:
        if k in data:
            raise KustomizeError(f"{root}: {kind} {spec['name']}: key {k!r} appears twice")
        data[k] = v

    for env in spec.get("envs") or []:
        for k, v in _env_pairs(_inside(root, env)):
            put(k, v.encode())
    for f in spec.get("files") or []:
        key, _, rel = f.partition("=") if "=" in f else (os.path.basename(f), "", f)
        put(key, _inside(root, rel).read_bytes())
    for lit in spec.get("literals") or []:
        k, _, v = lit.partition("=")
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        put(k, v.encode())
    md: dict = {"name": spec["name"]}
    opts = {**options, **(spec.get("options") or {})}
    if opts.get("labels"):
        md["labels"] = dict(opts["labels"])
    if opts.get("annotations"):
        md["annotations"] = dict(opts["annotations"])
    if spec.get("namespace"):
        md["namespace"] = spec["namespace"]
    obj: dict = {"apiVersion": "v1", "kind": kind, "metadata": md}
    if kind == "ConfigMap":
        text, binary = {}, {}
        for k, v in data.items():
            try:
                text[k] = v.decode("utf-8")
            except UnicodeDecodeError:
                binary[k] = base64.b64encode(v).decode()
        if text:
            obj["data"] = text
        if binary:
            obj["binaryData"] = binary
    else:
        if data:
            obj["data"] = {k: base64.b64encode(v).decode() for k, v in data.items()}
        obj["type"] = spec.get("type", "Opaque")
    return obj


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise KustomizeError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    for p in parts:
        if isinstance(doc, list):
            doc = doc[int(p)]
        else:
            doc = doc[p]
    return doc


def _apply_json6902(doc: dict, ops: list[dict]) -> dict:
    doc = copy.deepcopy(doc)
    for op in ops:
        kind = op.get("op")
        parts = _pointer(op.get("path", ""))
        try:
            if kind == "test":
                if _walk(doc, parts) != op.get("value"):
                    raise KustomizeError(f"JSON patch test failed at {op['path']}")
                continue
            if kind in ("move", "copy"):
                src = _pointer(op["from"])
                value = copy.deepcopy(_walk(doc, src))
                if kind == "move":
                    parent = _walk(doc, src[:-1])
                    if isinstance(parent, list):
                        parent.pop(int(src[-1]))
                    else:
                        del parent[src[-1]]
                kind, op = "add", {**op, "value": value}
            parent = _walk(doc, parts[:-1])
            last = parts[-1]
            if kind == "add":
                if isinstance(parent, list):
                    parent.insert(len(parent) if last == "-" else int(last), copy.deepcopy(op["value"]))
                else:
                    parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                if isinstance(parent, list):
                    parent.pop(int(last))
                else:
                    del parent[last]
            elif kind == "replace":
                if isinstance(parent, list):
                    parent[int(last)] = copy.deepcopy(op["value"])
                else:
                    if last not in parent:
                        raise KustomizeError(f"JSON patch replace: no {op['path']}")
                    parent[last] = copy.deepcopy(op["value"])
            else:
                raise KustomizeError(f"unsupported JSON patch op {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise KustomizeError(f"JSON patch {kind} {op.get('path')}: {e!r}") from e
    return doc


def _matches(obj: dict, target: dict) -> bool:
    unknown = set(target) - {"kind", "name", "namespace", "group", "version"}
    if unknown:
        raise KustomizeError(f"patch target fields {', '.join(sorted(unknown))} are not supported by kustomize_lite")
    md = obj.get("metadata") or {}
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    checks = [("kind", obj.get("kind")), ("name", md.get("name")), ("namespace", md.get("namespace")),
              ("group", group), ("version", version)]
    return all(re.fullmatch(target[k], v or "") for k, v in checks if k in target)


def _split_image(image: str) -> tuple[str, str, str]:
    digest = ""
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = ""
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        image, tag = image[:colon], image[colon + 1:]
    return image, tag, digest


def _new_image(image: str, entries: list[dict]) -> str:
    name, tag, digest = _split_image(image)
    for e in entries:
        if e.get("name") != name:
            continue
        name = e.get("newName", name)
        if "digest" in e:
            return f"{name}@{e['digest']}"
        if "newTag" in e:
            return f"{name}:{e['newTag']}"
        return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    return image


def _transform_images(obj: dict, entries: list[dict], field_specs: list[dict]) -> None:
    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("containers", "initContainers") and isinstance(v, list):
                    for c in v:
                        if isinstance(c, dict) and isinstance(c.get("image"), str):
                            c["image"] = _new_image(c["image"], entries)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(obj)
    for fs in field_specs:
        if fs.get("kind") and fs["kind"] != obj.get("kind"):
            continue
        parts = fs["path"].split("/")
        node = obj
        for p in parts[:-1]:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(parts[-1]), str):
            node[parts[-1]] = _new_image(node[parts[-1]], entries)


def _build(kdir: Path) -> tuple[list[dict], list[dict]]:
    """Returns (objects, image field specs from `configurations`)."""
    kdir = kdir.resolve()
    k = _load_kustomization(kdir)
    objs: list[dict] = []
    image_specs: list[dict] = []
    for cfg in k.get("configurations") or []:
        c = yaml.safe_load(_inside(kdir, cfg).read_text()) or {}
        if set(c) - {"images"}:
            raise KustomizeError(f"{cfg}: kustomize_lite supports only `images` field specs")
        image_specs += c.get("images") or []
    for res in k.get("resources") or []:
        p = (kdir / res).resolve()
        if p.is_dir():
            sub, specs = _build(p)
            objs += sub
            image_specs += specs
        else:
            p = _inside(kdir, res)
            if not p.is_file():
                raise KustomizeError(f"accumulating resources: {res!r} is neither a file nor a folder")
            for doc in yaml.safe_load_all(p.read_text()):
                if not doc:
                    continue
                if doc.get("kind", "").endswith("List") and "items" in doc:
                    objs += doc["items"]
                else:
                    objs.append(doc)
    so = k.get("sortOptions") or {}
    if so and (set(so) != {"order"} or so["order"] not in ("fifo", "legacy")):
        raise KustomizeError(f"{kdir}: kustomize_lite supports only sortOptions.order fifo or legacy")
    options = k.get("generatorOptions") or {}
    if set(options) - {"disableNameSuffixHash", "labels", "annotations"}:
        raise KustomizeError(f"{kdir}: generatorOptions field not supported by kustomize_lite")
    for spec in k.get("configMapGenerator") or []:
        objs.append(_generate(kdir, spec, "ConfigMap", options))
    for spec in k.get("secretGenerator") or []:
        objs.append(_generate(kdir, spec, "Secret", options))
    for patch in k.get("patches") or []:
        if set(patch) - {"target", "patch"} or "patch" not in patch:
            raise KustomizeError(f"{kdir}: kustomize_lite supports only inline JSON 6902 `patch` with `target`")
        ops = yaml.safe_load(patch["patch"])
        if not isinstance(ops, list):
            raise KustomizeError(f"{kdir}: kustomize_lite supports only JSON 6902 patches (a list of ops)")
        hit = False
        for i, obj in enumerate(objs):
            if _matches(obj, patch.get("target") or {}):
                objs[i] = _apply_json6902(obj, ops)
                hit = True
        if not hit:
            raise KustomizeError(f"{kdir}: no resource matches patch target {patch.get('target')}")
    if k.get("namespace"):
        for obj in objs:
            if obj.get("kind") not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = k["namespace"]
    if k.get("images"):
        for obj in objs:
            _transform_images(obj, k["images"], image_specs)
    seen = set()
    for obj in objs:
        md = obj.get("metadata") or {}
        key = (obj.get("apiVersion", "").rpartition("/")[0], obj.get("kind"), md.get("namespace"), md.get("name"))
        if key in seen:
            raise KustomizeError(f"may not add resource with an already registered id: {key}")
        seen.add(key)
    return objs, image_specs


def _legacy_key(obj: dict):
    kind = obj.get("kind", "")
    if kind in LEGACY_FIRST:
        rank = LEGACY_FIRST.index(kind) - len(LEGACY_FIRST)
    elif kind in LEGACY_LAST:
        rank = 1 + LEGACY_LAST.index(kind)
    else:
        rank = 0
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    gvk = "_".join([group or "~G", version or "~V", kind or "~K"])
    md = obj.get("metadata") or {}
    return (rank, gvk, md.get("namespace") or "", md.get("name") or "")


def build(kdir: Path) -> list[dict]:
    """Renders a kustomization, in kustomize's output order."""
    kdir = Path(kdir)
    objs = _build(kdir)[0]
    order = (_load_kustomization(kdir.resolve()).get("sortOptions") or {}).get("order", "legacy")
    return objs if order == "fifo" else sorted(objs, key=_legacy_key)


# --------------------------------------------------------------------------- comparison


def _normal(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    if obj.get("kind") == "Secret":
        obj["data"] = {k: base64.b64decode("".join(v.split())) for k, v in (obj.get("data") or {}).items()}
    return obj


def _key(o: dict):
    md = o.get("metadata") or {}
    return (o.get("kind"), md.get("namespace") or "", md.get("name"))


def compare(kdir: Path) -> list[str]:
    proc = subprocess.run(["kubectl", "kustomize", str(kdir)], capture_output=True, text=True, timeout=300)
    try:
        mine = build(kdir)
    except KustomizeError as e:
        mine = e
    if proc.returncode != 0 or isinstance(mine, Exception):
        if proc.returncode != 0 and isinstance(mine, Exception):
            return []  # both refuse it
        return [f"{kdir}: kubectl {'failed' if proc.returncode else 'rendered'}, kustomize_lite "
                f"{'failed: ' + str(mine) if isinstance(mine, Exception) else 'rendered'}"]
    theirs_list = [o for o in yaml.safe_load_all(proc.stdout) if o]
    theirs = {_key(o): _normal(o) for o in theirs_list}
    ours = {_key(o): _normal(o) for o in mine}
    diffs = []
    if [_key(o) for o in theirs_list] != [_key(o) for o in mine] and set(theirs) == set(ours):
        diffs.append(f"{kdir}: different order:\n  kubectl:        {[_key(o) for o in theirs_list]}"
                     f"\n  kustomize_lite: {[_key(o) for o in mine]}")
    for key in sorted(set(theirs) | set(ours), key=str):
        if key not in ours:
            diffs.append(f"{kdir}: {key} only from kubectl")
        elif key not in theirs:
            diffs.append(f"{kdir}: {key} only from kustomize_lite")
        elif theirs[key] != ours[key]:
            diffs.append(f"{kdir}: {key} differs:\n  kubectl:        {json.dumps(theirs[key], default=str)[:400]}"
                         f"\n  kustomize_lite: {json.dumps(ours[key], default=str)[:400]}")
    return diffs


def main(argv: list[str]) -> int:
    if argv[:1] == ["--compare"]:
        diffs = [d for kdir in argv[1:] for d in compare(Path(kdir))]
        for d in diffs:
            print(d)
        print(f"kustomize_lite: {len(argv) - 1} kustomization(s) compared with kubectl, {len(diffs)} difference(s)")
        return 1 if diffs else 0
    if len(argv) != 1:
        print("usage: kustomize_lite.py DIR | --compare DIR...", file=sys.stderr)
        return 2
    try:
        print(yaml.safe_dump_all(build(Path(argv[0])), sort_keys=False), end="")
    except KustomizeError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
