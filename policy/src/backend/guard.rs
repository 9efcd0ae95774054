//! The guardian: a small process that outlives the agent and undoes its
//! scheduling changes if the agent dies without doing so (kill -9, crash).
//!
//! The agent tells the guardian, over a pipe, every task it changes and
//! every sysctl it sets. When the pipe closes (the agent exited, however it
//! exited) the guardian restores what is still outstanding — only for tasks
//! whose tid *and* start time still match, so a reused tid is never touched
//! — and exits. The guardian runs SCHED_FIFO 99 so that boosted functions
//! hogging every CPU cannot delay the restore; it only ever blocks on the
//! pipe, and exits right after restoring.

use super::sched::{self, TaskId};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

/// The agent's end.
pub struct Guard {
    child: Child,
    pipe: Mutex<Option<ChildStdin>>,
}

impl Guard {
    /// Start `exe guard` (the `alps` binary's hidden guard subcommand).
    pub fn spawn(exe: &Path) -> anyhow::Result<Self> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(exe)
            .arg("guard")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0) // a terminal's Ctrl-C reaches the agent, not the guard
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting the guardian `{} guard`: {e}", exe.display()))?;
        let pipe = child.stdin.take();
        Ok(Self {
            child,
            pipe: Mutex::new(pipe),
        })
    }

    fn send(&self, line: &str) {
        if let Some(p) = self.pipe.lock().unwrap().as_mut() {
            let _ = writeln!(p, "{line}");
            let _ = p.flush();
        }
    }

    /// Before changing a task.
    pub fn touched(&self, t: TaskId) {
        self.send(&format!("T {} {}", t.tid, t.start));
    }

    /// After restoring a task (or when it exited).
    pub fn restored(&self, t: TaskId) {
        self.send(&format!("R {} {}", t.tid, t.start));
    }

    /// Before writing a sysctl file: its old value, to restore.
    pub fn sysctl(&self, path: &Path, old: &str) {
        self.send(&format!("S {} {}", path.display(), old.trim()));
    }

    /// A sysctl was restored by the agent.
    pub fn sysctl_restored(&self, path: &Path) {
        self.send(&format!("s {}", path.display()));
    }

    /// Close the pipe and wait for the guardian to finish.
    pub fn finish(mut self) {
        self.pipe.lock().unwrap().take();
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.pipe.lock().unwrap().take();
        let _ = self.child.wait();
    }
}

/// Restore every boosted process running `<this exe> fn ...`.
fn restore_stray_functions() -> usize {
    let Ok(me) = std::fs::read_link("/proc/self/exe") else {
        return 0;
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut n = 0;
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/exe")).ok().as_ref() != Some(&me) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let is_fn = cmdline.split(|b| *b == 0).nth(1) == Some(b"fn".as_slice());
        if is_fn && sched::is_boosted(pid).unwrap_or(false) && sched::set_plain(pid).is_ok() {
            n += 1;
        }
    }
    n
}

/// The guardian's main loop (the `alps guard` subcommand): read until EOF,
/// then restore. Returns what it restored, for its log line.
pub fn guard_main() -> anyhow::Result<i32> {
    // Best effort: run above every function so the restore is prompt.
    let _ = sched::sched_setattr(
        0,
        &sched::SchedAttr {
            sched_policy: sched::SCHED_FIFO,
            sched_priority: 99,
            sched_flags: sched::SCHED_FLAG_RESET_ON_FORK,
            ..Default::default()
        },
    );
    // SAFETY: ignoring SIGINT/SIGTERM so that only EOF ends the guard.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    let mut tasks: HashSet<TaskId> = HashSet::new();
    let mut sysctls: HashMap<PathBuf, String> = HashMap::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut it = line.splitn(3, ' ');
        match (it.next(), it.next(), it.next()) {
            (Some(op @ ("T" | "R")), Some(tid), Some(start)) => {
                if let (Ok(tid), Ok(start)) = (tid.parse(), start.parse()) {
                    let t = TaskId { tid, start };
                    if op == "T" {
                        tasks.insert(t);
                    } else {
                        tasks.remove(&t);
                    }
                }
            }
            (Some("S"), Some(path), Some(old)) => {
                sysctls
                    .entry(PathBuf::from(path))
                    .or_insert_with(|| old.to_string());
            }
            (Some("s"), Some(path), _) => {
                sysctls.remove(Path::new(path));
            }
            _ => {}
        }
    }
    let mut restored = 0;
    for t in &tasks {
        if t.alive() && sched::set_plain(t.tid).is_ok() {
            restored += 1;
        }
    }
    // A function launched in the instant the agent died is not on the list:
    // every `alps fn` process of this executable still boosted is restored.
    restored += restore_stray_functions();
    for (path, old) in &sysctls {
        let _ = std::fs::write(path, old);
    }
    if restored > 0 || !sysctls.is_empty() {
        eprintln!(
            "alps guard: the agent exited without restoring; restored {restored} task(s) and {} sysctl(s)",
            sysctls.len()
        );
    }
    Ok(0)
}
