#!/bin/sh
# Build stage of the nas images: libtorch from the PyPI torch wheel, as
# scripts/setup.sh takes it (tch binds that release), moved out of the venv
# to /opt/libtorch with the wheel's layout kept:
#   /opt/libtorch/torch     LIBTORCH (include/, lib/)
#   /opt/libtorch/nvidia    the CUDA runtime libraries the wheel depends on;
#                           torch/lib finds them through its RPATH
#                           ($ORIGIN/../../nvidia/...), even libtorch_cpu.
#   install-libtorch.sh TORCH_VERSION
set -eu
version=${1:?usage: install-libtorch.sh TORCH_VERSION}
python3 -m venv /tmp/torch-venv
/tmp/torch-venv/bin/pip install --no-cache-dir --disable-pip-version-check "torch==$version"
site=$(/tmp/torch-venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p /opt/libtorch
mv "$site/torch" "$site/nvidia" /opt/libtorch/
rm -rf /tmp/torch-venv
echo "$version" >/opt/libtorch/VERSION
