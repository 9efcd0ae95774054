//! Compiles the sched_ext scheduler (bpf/scx/alps.bpf.c) and generates its
//! libbpf-rs skeleton, only with the `scx` feature (off in the normal host
//! build: it needs clang >= 18 and a vmlinux.h of a sched_ext kernel).
//!
//! Inputs, from the environment (scripts/vm-test.sh sets them):
//! - `ALPS_SCX_CLANG`: the clang to use (default `clang`);
//! - `ALPS_SCX_INCLUDE`: `:`-separated include directories, holding
//!   `vmlinux.h` of the target kernel and the scx headers (`scx/common.bpf.h`,
//!   the `bpf_h/` directory of the scx_cargo crate).

fn main() {
    println!("cargo:rerun-if-env-changed=ALPS_SCX_CLANG");
    println!("cargo:rerun-if-env-changed=ALPS_SCX_INCLUDE");
    #[cfg(feature = "scx")]
    build_scx();
}

#[cfg(feature = "scx")]
fn build_scx() {
    use std::path::PathBuf;
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let dir = manifest.join("../bpf/scx");
    let src = dir.join("alps.bpf.c");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("alps_scx.skel.rs");
    let clang = std::env::var("ALPS_SCX_CLANG").unwrap_or_else(|_| "clang".into());
    let includes = std::env::var("ALPS_SCX_INCLUDE").unwrap_or_default();
    let mut args: Vec<String> = vec![
        "-I".into(),
        dir.display().to_string(),
        "-Wall".into(),
        "-O2".into(),
        "-mcpu=v3".into(),
        // bpftool 7.1 dumps anonymous members that need these.
        "-fms-extensions".into(),
        "-Wno-microsoft-anon-tag".into(),
    ];
    for inc in includes.split(':').filter(|s| !s.is_empty()) {
        args.push("-I".into());
        args.push(inc.into());
        let compat = PathBuf::from(inc).join("bpf-compat");
        if compat.is_dir() {
            args.push("-I".into());
            args.push(compat.display().to_string());
        }
    }
    if let Err(e) = libbpf_cargo::SkeletonBuilder::new()
        .source(&src)
        .clang(&clang)
        .clang_args(&args)
        .build_and_generate(&out)
    {
        panic!(
            "building {} failed: {e:#}\n\
             The `scx` feature needs clang >= 18 (ALPS_SCX_CLANG={clang}) and, in \
             ALPS_SCX_INCLUDE (now {includes:?}), a directory with vmlinux.h of a \
             sched_ext kernel and the scx headers (scx_cargo's bpf_h/). \
             scripts/vm-test.sh sets both.",
            src.display()
        );
    }
    for f in ["alps.bpf.c", "intf.h"] {
        println!("cargo:rerun-if-changed={}", dir.join(f).display());
    }
}
