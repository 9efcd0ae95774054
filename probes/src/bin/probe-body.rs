//! Function bodies with known behaviour, run by the probe tests as real
//! single-threaded processes: `probe-body <name>` (test support only).

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

fn cpu_time_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn spin_ms(ms: u64) {
    let end = cpu_time_ns() + ms * 1_000_000;
    let mut x = 0u64;
    while cpu_time_ns() < end {
        for i in 0..1000 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
}

/// Run the named body in this process.
fn run_body(name: &str) {
    match name {
        "spin" => spin_ms(400),
        "sleep" => {
            for _ in 0..20 {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        "blockio" => blockio(),
        "futex" => futex(),
        "threads" => {
            let hs: Vec<_> = (0..3)
                .map(|_| std::thread::spawn(|| spin_ms(100)))
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        }
        "fork" => {
            let exe = std::env::current_exe().unwrap();
            let kids: Vec<_> = (0..3)
                .map(|_| Command::new(&exe).arg("short").spawn().unwrap())
                .collect();
            for mut k in kids {
                k.wait().unwrap();
            }
        }
        "short" => spin_ms(100),
        "exit7" => std::process::exit(7),
        _ => panic!("unknown body {name}"),
    }
}

fn blockio() {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = std::env::temp_dir().join(format!("alps-probe-test-{}", std::process::id()));
    const BLK: usize = 4096;
    const N: usize = 256; // 1 MiB
    let layout = std::alloc::Layout::from_size_align(BLK * N, BLK).unwrap();
    // SAFETY: non-zero size; freed below.
    let buf = unsafe { std::alloc::alloc_zeroed(layout) };
    let data = unsafe { std::slice::from_raw_parts_mut(buf, BLK * N) };
    for (i, b) in data.iter_mut().enumerate() {
        *b = i as u8;
    }
    {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .unwrap();
        for _ in 0..4 {
            f.write_all(data).unwrap();
            f.sync_all().unwrap();
        }
    }
    {
        use std::io::Read;
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .unwrap();
        for _ in 0..4 {
            f.read_exact(data).unwrap();
        }
    }
    let _ = std::fs::remove_file(&path);
    // SAFETY: allocated above with this layout.
    unsafe { std::alloc::dealloc(buf, layout) };
}

fn futex() {
    static TURN: (Mutex<u64>, Condvar) = (Mutex::new(0), Condvar::new());
    static DONE: AtomicU64 = AtomicU64::new(0);
    let hs: Vec<_> = (0..4u64)
        .map(|me| {
            std::thread::spawn(move || {
                for round in 0..25u64 {
                    let (m, cv) = &TURN;
                    let mut turn = m.lock().unwrap();
                    while *turn % 4 != me {
                        turn = cv.wait(turn).unwrap();
                    }
                    spin_ms(1); // hold the lock while working
                    *turn += 1;
                    cv.notify_all();
                    let _ = round;
                }
                DONE.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

fn main() {
    let name = std::env::args().nth(1).expect("usage: body <name>");
    run_body(&name);
}
