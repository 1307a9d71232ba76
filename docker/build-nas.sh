#!/bin/sh
# Build stage of the nas images: build the nas binary against
# /opt/libtorch (install-libtorch.sh) and gather what the runtime stage
# copies into /out:
#   /out/nas                      the binary
#   /out/libtorch/torch/lib, /out/libtorch/nvidia/...   its libraries
#
#   build-nas.sh cpu    links as cargo does; keeps only the libraries the
#                       binary loads (ldd), which is libtorch_cpu and the
#                       CUDA runtime pieces it needs, not cuDNN or cuBLAS.
#   build-nas.sh cuda   also links libtorch_cuda, which the linker would
#                       otherwise drop (--as-needed: nothing calls into it
#                       directly, but CUDA is only available in libtorch once
#                       it is loaded); keeps every library of the wheel,
#                       since CUDA kernels load cuDNN, cuBLAS, NCCL lazily.
#
# Run from the source root; CARGO_TARGET_DIR may be a cache mount.
set -eu
mode=${1:?usage: build-nas.sh cpu|cuda}
export LIBTORCH=/opt/libtorch/torch
export LD_LIBRARY_PATH="$LIBTORCH/lib"
target=${CARGO_TARGET_DIR:-target}
triple=$(rustc -vV | sed -n 's/^host: //p')
case $mode in
  cpu)
    NAS_LINK_CUDA=0 cargo build --release --locked --bin nas
    bin="$target/release/nas"
    ;;
  cuda)
    # Target-specific flags with an explicit --target reach the nas binary
    # only, not build scripts (which could not find libtorch_cuda to link).
    var="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
    env "$var=-C link-arg=-Wl,--no-as-needed -C link-arg=-ltorch_cuda -C link-arg=-Wl,--as-needed" \
      cargo build --release --locked --bin nas --target "$triple"
    bin="$target/$triple/release/nas"
    ;;
  *)
    echo "build-nas: mode $mode is not cpu or cuda" >&2
    exit 2
    ;;
esac
rm -rf /out && mkdir -p /out/libtorch
cp "$bin" /out/nas
strip /out/nas
if [ "$mode" = cuda ]; then
  readelf -d /out/nas | grep -q 'libtorch_cuda.so' || {
    echo "build-nas: the binary does not load libtorch_cuda.so" >&2
    exit 1
  }
  mkdir -p /out/libtorch/torch
  cp -a /opt/libtorch/torch/lib /out/libtorch/torch/lib
  cp -a /opt/libtorch/nvidia /out/libtorch/nvidia
  # Python's bindings; nas does not load them.
  rm -f /out/libtorch/torch/lib/libtorch_python.so
else
  # Every library ldd resolves under /opt/libtorch, in the same layout:
  # the file, and the name asked for when that is a symlink to it.
  ldd /out/nas | awk '$3 ~ /^\/opt\/libtorch\// { print $3 }' | while read -r lib; do
    for path in "$(realpath "$lib")" "$(realpath -s "$lib")"; do
      rel=${path#/opt/libtorch/}
      mkdir -p "/out/libtorch/$(dirname "$rel")"
      cp -a "$path" "/out/libtorch/$rel"
    done
  done
  test -f /out/libtorch/torch/lib/libtorch_cpu.so
fi
LD_LIBRARY_PATH=/out/libtorch/torch/lib /out/nas --version
