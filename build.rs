//! Link settings of the `nas` binary, from LIBTORCH (scripts/env.sh points
//! it at the venv's torch):
//! - libtorch's library folder goes into the binary's run path, so it runs
//!   without LD_LIBRARY_PATH;
//! - when libtorch has CUDA, `libtorch_cuda` is linked even though no symbol
//!   of it is referenced (`--no-as-needed`): otherwise the linker drops it,
//!   CUDA kernels are never registered and `tch::Cuda::is_available()` is
//!   false on GPU hosts. `NAS_LINK_CUDA=0` turns this off (the CPU-only
//!   docker image, which ships libtorch's CPU libraries alone).

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=NAS_LINK_CUDA");
    let Ok(dir) = std::env::var("LIBTORCH") else {
        return;
    };
    let lib = Path::new(&dir).join("lib");
    println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{}", lib.display());
    let wanted = std::env::var("NAS_LINK_CUDA").map_or(true, |v| v != "0");
    if wanted && lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg-bins=-L{}", lib.display());
        println!("cargo:rustc-link-arg-bins=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
