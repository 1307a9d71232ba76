# shellcheck shell=bash
# Sourced by every script: the one place that names the cache paths outside
# the clone (torch venv, converted NAS-Bench-201 table, cargo target dir), so
# that a fresh clone on the same machine reuses them and nothing rebuilds.
NAS_CACHE="${NAS_CACHE:-/var/cache/nas}"
NAS_VENV="${NAS_VENV:-$NAS_CACHE/venv}"
NAS_NB201_DIR="${NAS_NB201_DIR:-$NAS_CACHE/nasbench201}"
NAS_FASHION_MNIST="${NAS_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"
NAS_DATASETS="${NAS_DATASETS:-$NAS_CACHE/datasets}"
NAS_TORCH_VERSION="2.11.0"
export NAS_CACHE NAS_VENV NAS_NB201_DIR NAS_FASHION_MNIST NAS_DATASETS NAS_TORCH_VERSION
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$NAS_CACHE/target}"
# tch's build script takes libtorch from the venv's torch; keeping this value
# identical between builds keeps cargo from rebuilding torch-sys.
# A glob, not `ls | head` in a command substitution: before the venv exists
# there is no match, and under `set -euo pipefail` a failing `ls` would end
# the calling script silently (tests/scripts.rs checks this on a fresh cache).
_nas_site="$NAS_VENV/lib/python3/site-packages"
for _nas_dir in "$NAS_VENV"/lib/python3*/site-packages; do
  if [ -d "$_nas_dir" ]; then _nas_site=$_nas_dir; break; fi
done
export LIBTORCH="$_nas_site/torch"
unset _nas_site _nas_dir
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# rustup installs cargo under ~/.cargo/bin, which a non-login shell (CI) may lack.
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) [ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH" ;; esac
export PATH
