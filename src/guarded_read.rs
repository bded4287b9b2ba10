//! Reading files a user named without trusting them: only regular files are opened for reading (a FIFO, a
//! device, a socket or a folder is refused from its metadata, before a byte is read; the open itself never
//! blocks), kernel pseudo-files (`/proc`, `/sys`, `/dev`) are refused by path, and reads stop at a size limit
//! instead of growing until memory runs out. The CLI reads sources with it, data loading reads data files.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static MAX_MEMORY: OnceLock<u64> = OnceLock::new();

/// Sets the memory budget of this process (`--max-memory`; the first call wins).
pub fn set_max_memory(bytes: Option<u64>) {
    if let Some(b) = bytes {
        let _ = MAX_MEMORY.set(b);
    }
}

/// The memory budget in bytes: what [`set_max_memory`] set, else the machine's memory, else no limit. Model
/// estimates and the sizes data files declare are checked against it before anything is allocated.
pub fn max_memory() -> u64 {
    *MAX_MEMORY.get_or_init(|| machine_memory().unwrap_or(u64::MAX))
}

/// `MemTotal` of `/proc/meminfo` (Linux); `None` elsewhere.
fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Deflate's largest possible expansion (a stream of repeated bytes): a compressed entry that declares more
/// output per input byte is lying, and is refused before inflating.
pub const MAX_DEFLATE_RATIO: u64 = 1032;

/// Why a file was not read.
#[derive(Debug)]
pub enum Refusal {
    /// It does not exist or cannot be opened (the system's reason).
    Unreadable(std::io::Error),
    /// It is not a regular file: what it is ("a FIFO", "a folder", ...).
    NotRegular(&'static str),
    /// It lies under `/proc`, `/sys` or `/dev`: its size and contents are made up by the kernel on reading.
    PseudoFile(PathBuf),
    /// It is larger than `limit` bytes.
    TooLarge { limit: u64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unreadable(e) => write!(f, "{e}"),
            Refusal::NotRegular(what) => write!(f, "it is {what}, not a regular file"),
            Refusal::PseudoFile(p) => write!(
                f,
                "it is a system pseudo-file ({}), not a regular file",
                p.display()
            ),
            Refusal::TooLarge { limit } => {
                write!(f, "it is larger than the limit of {}", human_bytes(*limit))
            }
        }
    }
}

/// Opens `path` for reading if it is a regular file outside the kernel's pseudo file systems. Returns the
/// file and its size.
pub fn open_regular(path: &Path) -> Result<(File, u64), Refusal> {
    if let Ok(real) = std::fs::canonicalize(path) {
        if ["/proc", "/sys", "/dev"]
            .iter()
            .any(|root| real.starts_with(root))
        {
            return Err(Refusal::PseudoFile(real));
        }
    }
    let file = open_nonblocking(path).map_err(Refusal::Unreadable)?;
    let meta = file.metadata().map_err(Refusal::Unreadable)?;
    if !meta.is_file() {
        return Err(Refusal::NotRegular(kind_of(&meta.file_type())));
    }
    Ok((file, meta.len()))
}

/// The bytes of a regular file of at most `limit` bytes (checked on its size before reading, and again while
/// reading, since a file can grow).
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, Refusal> {
    let (file, size) = open_regular(path)?;
    if size > limit {
        return Err(Refusal::TooLarge { limit });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(Refusal::Unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(Refusal::TooLarge { limit });
    }
    Ok(bytes)
}

/// Opening a FIFO for reading waits for a writer; with `O_NONBLOCK` it returns at once, and the metadata check
/// refuses it. On regular files the flag changes nothing.
#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

#[cfg(unix)]
fn kind_of(ty: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ty.is_dir() {
        "a folder"
    } else if ty.is_fifo() {
        "a FIFO (named pipe)"
    } else if ty.is_socket() {
        "a socket"
    } else if ty.is_char_device() || ty.is_block_device() {
        "a device"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn kind_of(ty: &std::fs::FileType) -> &'static str {
    if ty.is_dir() {
        "a folder"
    } else {
        "a special file"
    }
}

/// `1.5 GiB`, `640 KiB`, `12 bytes`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
