//! Helpers shared by the integration tests that run the real system.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

pub const ALPS: &str = env!("CARGO_BIN_EXE_alps");

/// Whether the real-system tests may skip (not root, not under CI).
pub fn skip(reason_if_skipped: &str) -> bool {
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    // SAFETY: no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root && !ci {
        eprintln!("SKIP: {reason_if_skipped} needs root (set CI=true to make this a failure)");
        return true;
    }
    false
}

/// Tests that load the CPUs or change scheduling classes run one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("alps-test-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn alps() -> Command {
    let mut c = Command::new(ALPS);
    c.env("ALPS_EXE", ALPS);
    c
}

/// `alps probe --json -- <args>`: the account of one invocation.
pub fn probe(args: &[&str]) -> serde_json::Value {
    let out = alps()
        .arg("probe")
        .arg("--json")
        .arg("--")
        .args(args)
        .output()
        .expect("run alps probe");
    assert!(
        out.status.success(),
        "alps probe {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("probe JSON")
}

pub fn u(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("field {k} missing in {v}"))
}
