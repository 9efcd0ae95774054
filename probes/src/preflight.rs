//! Checks made before loading BPF, so that a missing privilege or kernel
//! feature is reported as its cause and its fix, never as a libbpf errno.

use std::path::Path;

/// Why the probes could not start, with the fix in the message.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("the eBPF probes need root (CAP_BPF and CAP_PERFMON); run alps as root, e.g. `sudo alps ...`")]
    NotRoot,
    #[error("this kernel exposes no BTF at /sys/kernel/btf/vmlinux; the CO-RE probes need a kernel built with CONFIG_DEBUG_INFO_BTF=y (any distribution kernel since 5.4 has it)")]
    NoBtf,
    #[error("tracefs is not mounted and mounting it failed ({0}); mount it with `mount -t tracefs tracefs /sys/kernel/tracing`")]
    NoTracefs(String),
    #[error("loading the BPF programs failed: {0}; check `dmesg` and that the kernel is 6.x with BTF (the verifier log above says which program)")]
    Load(String),
    #[error("attaching BPF program `{prog}` failed: {err}; the tracepoint may be missing from this kernel (see /sys/kernel/tracing/events)")]
    Attach { prog: String, err: String },
    #[error("BPF map operation failed: {0}")]
    Map(String),
}

/// Every check, in the order a user would fix them.
pub fn check() -> Result<(), ProbeError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(ProbeError::NotRoot);
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Err(ProbeError::NoBtf);
    }
    ensure_tracefs()
}

/// The syscall tracepoints are looked up through tracefs: mount it if the
/// machine has not.
fn ensure_tracefs() -> Result<(), ProbeError> {
    for dir in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if Path::new(dir).join("events").is_dir() {
            return Ok(());
        }
    }
    let status = std::process::Command::new("mount")
        .args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
        .status();
    match status {
        Ok(s) if s.success() && Path::new("/sys/kernel/tracing/events").is_dir() => Ok(()),
        Ok(s) => Err(ProbeError::NoTracefs(format!("mount exited with {s}"))),
        Err(e) => Err(ProbeError::NoTracefs(e.to_string())),
    }
}
