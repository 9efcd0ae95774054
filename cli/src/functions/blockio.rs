//! Real block I/O: O_DIRECT reads and fsync'ed O_DIRECT writes of a unique
//! file (removed afterwards), with 4 KiB-aligned buffers.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{anyhow, bail, Context, Result};

use super::calibration::burn_ms;

/// Alignment for O_DIRECT buffers, offsets and sizes.
pub const ALIGN: usize = 4096;
/// Size of one read or write request issued by the body.
pub const REQUEST_BYTES: usize = 64 * 1024;

/// A heap buffer aligned to `ALIGN`, length a multiple of `ALIGN`.
pub struct AlignedBuf {
    ptr: *mut u8,
    len: usize,
}

impl AlignedBuf {
    pub fn new(len: usize) -> Result<AlignedBuf> {
        let len = len.max(ALIGN).div_ceil(ALIGN) * ALIGN;
        let layout = std::alloc::Layout::from_size_align(len, ALIGN)?;
        // SAFETY: layout has non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            bail!("cannot allocate {len} aligned bytes");
        }
        Ok(AlignedBuf { ptr, len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is valid for len bytes, initialized (alloc_zeroed).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and we hold &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Fill with non-zero pseudo-random bytes (nothing can elide them).
    pub fn fill_pattern(&mut self, seed: u64) {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        for chunk in self.as_mut_slice().chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::from_size_align(self.len, ALIGN).expect("layout");
        // SAFETY: allocated with this layout in `new`.
        unsafe { std::alloc::dealloc(self.ptr, layout) };
    }
}

// SAFETY: AlignedBuf owns its allocation exclusively.
unsafe impl Send for AlignedBuf {}

/// A unique file opened with O_DIRECT, unlinked when dropped.
pub struct DirectFile {
    fd: libc::c_int,
    path: PathBuf,
}

static FILE_SEQ: AtomicU64 = AtomicU64::new(0);

impl DirectFile {
    /// Create `alps-blockio-<pid>-<seq>-<ns>.dat` in `dir` with O_DIRECT.
    pub fn create(dir: &Path) -> Result<DirectFile> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "alps-blockio-{}-{}-{}.dat",
            std::process::id(),
            FILE_SEQ.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        let path = dir.join(name);
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| anyhow!("path {} contains a NUL byte", path.display()))?;
        // SAFETY: c is a valid NUL-terminated path.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_DIRECT | libc::O_CLOEXEC,
                0o600 as libc::c_uint,
            )
        };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            return Err(anyhow!(e)).with_context(|| {
                format!(
                    "opening {} with O_DIRECT (the directory must be on a block-device-backed \
                     filesystem that supports O_DIRECT, not tmpfs; set ALPS_BLOCKIO_DIR or the \
                     spec's dir)",
                    path.display()
                )
            });
        }
        Ok(DirectFile { fd, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// pwrite the whole buffer at `offset` (aligned), in REQUEST_BYTES requests.
    pub fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let n = (buf.len() - done).min(REQUEST_BYTES);
            // SAFETY: the slice is valid for n bytes from done.
            let rc = unsafe {
                libc::pwrite(
                    self.fd,
                    buf[done..].as_ptr() as *const libc::c_void,
                    n,
                    (offset + done as u64) as libc::off_t,
                )
            };
            if rc < 0 {
                return Err(anyhow!(std::io::Error::last_os_error()))
                    .with_context(|| format!("O_DIRECT write to {}", self.path.display()));
            }
            if rc == 0 {
                bail!("O_DIRECT write to {} wrote nothing", self.path.display());
            }
            done += rc as usize;
        }
        Ok(())
    }

    /// pread the whole buffer from `offset` (aligned), in REQUEST_BYTES requests.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let n = (buf.len() - done).min(REQUEST_BYTES);
            // SAFETY: the slice is valid and writable for n bytes from done.
            let rc = unsafe {
                libc::pread(
                    self.fd,
                    buf[done..].as_mut_ptr() as *mut libc::c_void,
                    n,
                    (offset + done as u64) as libc::off_t,
                )
            };
            if rc < 0 {
                return Err(anyhow!(std::io::Error::last_os_error()))
                    .with_context(|| format!("O_DIRECT read of {}", self.path.display()));
            }
            if rc == 0 {
                bail!(
                    "O_DIRECT read of {}: unexpected end of file",
                    self.path.display()
                );
            }
            done += rc as usize;
        }
        Ok(())
    }

    pub fn fsync(&self) -> Result<()> {
        // SAFETY: fd is an open descriptor.
        if unsafe { libc::fsync(self.fd) } != 0 {
            return Err(anyhow!(std::io::Error::last_os_error()))
                .with_context(|| format!("fsync of {}", self.path.display()));
        }
        Ok(())
    }
}

impl Drop for DirectFile {
    fn drop(&mut self) {
        // SAFETY: fd is open and owned by us.
        unsafe { libc::close(self.fd) };
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Directory for blockio files: the spec's, else `$ALPS_BLOCKIO_DIR`, else
/// `std::env::temp_dir()`.
pub fn blockio_dir(spec_dir: Option<&str>) -> PathBuf {
    if let Some(d) = spec_dir.filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    match std::env::var_os("ALPS_BLOCKIO_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir(),
    }
}

/// Bytes a blockio invocation moves (for tests and accounting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockIoStats {
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub fsyncs: u64,
}

/// The blockio body: write and fsync the read region once, then `rounds` x
/// (burn `compute_ms`, O_DIRECT write `write_kb` + fsync, O_DIRECT read
/// `read_kb`). The file is removed at the end (also on error).
pub fn run_blockio(
    rounds: u32,
    read_kb: u32,
    write_kb: u32,
    compute_ms: f64,
    dir: Option<&str>,
) -> Result<BlockIoStats> {
    let dir = blockio_dir(dir);
    let file = DirectFile::create(&dir)?;
    let mut st = BlockIoStats::default();
    let read_bytes = (read_kb as usize * 1024).div_ceil(ALIGN) * ALIGN;
    let write_bytes = (write_kb as usize * 1024).div_ceil(ALIGN) * ALIGN;
    let mut rbuf = if read_bytes > 0 {
        let mut b = AlignedBuf::new(read_bytes)?;
        b.fill_pattern(11);
        // Allocate the read region on disk (reads of holes do no I/O).
        file.write_all_at(b.as_slice(), 0)?;
        file.fsync()?;
        st.bytes_written += read_bytes as u64;
        st.fsyncs += 1;
        Some(b)
    } else {
        None
    };
    let mut wbuf = if write_bytes > 0 {
        Some(AlignedBuf::new(write_bytes)?)
    } else {
        None
    };
    // Writes go after the read region, cycling over 8 slots.
    let write_base = read_bytes as u64;
    for r in 0..rounds {
        burn_ms(compute_ms);
        if let Some(w) = wbuf.as_mut() {
            w.fill_pattern(r as u64 + 1);
            let off = write_base + (r as u64 % 8) * write_bytes as u64;
            file.write_all_at(w.as_slice(), off)?;
            file.fsync()?;
            st.bytes_written += write_bytes as u64;
            st.fsyncs += 1;
        }
        if let Some(b) = rbuf.as_mut() {
            file.read_exact_at(b.as_mut_slice(), 0)?;
            std::hint::black_box(b.as_slice()[b.len() - 1]);
            st.bytes_read += read_bytes as u64;
        }
    }
    drop(file);
    Ok(st)
}
