//! Compiles bpf/probe.bpf.c (CO-RE) and generates its libbpf-rs skeleton,
//! when the `bpf` feature is on. Needs clang (see README: `make deps`).

fn main() {
    if std::env::var_os("CARGO_FEATURE_BPF").is_none() {
        return;
    }
    #[cfg(feature = "bpf")]
    build_bpf();
}

#[cfg(feature = "bpf")]
fn build_bpf() {
    use std::path::PathBuf;
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let bpf_dir = manifest.join("../bpf");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("probe.skel.rs");
    let src = bpf_dir.join("probe.bpf.c");
    if let Err(e) = libbpf_cargo::SkeletonBuilder::new()
        .source(&src)
        .clang_args(["-I", bpf_dir.to_str().unwrap(), "-Wall", "-O2", "-mcpu=v3"])
        .build_and_generate(&out)
    {
        panic!(
            "building {} failed: {e:#}\n\
             The BPF build needs clang, libelf-dev, zlib1g-dev and pkg-config: \
             run `make deps` (or apt-get install clang libelf-dev zlib1g-dev pkg-config make gcc).",
            src.display()
        );
    }
    for f in ["probe.bpf.c", "intf.h", "vmlinux_min.h"] {
        println!("cargo:rerun-if-changed={}", bpf_dir.join(f).display());
    }
}
