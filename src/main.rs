//! The `fusec` binary: runs the CLI and turns a panic (a compiler bug) into exit code 2.

// candle allocates a buffer per op; mimalloc makes small models several times faster than the system allocator
// (measured in the issue: 190-250 vs 930-1040 MLP steps/s).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (its index in `mi_option_t`, mimalloc v3's `mimalloc.h`).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

fn main() {
    // Keep freed memory for reuse instead of returning it to the OS after 10 ms: the training loop frees and
    // reallocates the same large buffers every step, and returning them made the kernel zero fresh pages for
    // each (17% of a BiLSTM training profile; 25% of its step time).
    // SAFETY: setting an option is allowed at any time; the value -1 means "never purge".
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    restore_sigpipe();
    let code = std::panic::catch_unwind(fusec::cli::main).unwrap_or_else(|_| {
        eprintln!(
            "error: internal compiler error (a bug in fusec); please report it with the input file"
        );
        2
    });
    std::process::exit(code);
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`fusec summary FILE | head`) fails with an error that
/// `println!` turns into a panic. Restoring the default ends the process quietly instead, as `cat` and `ls` do.
#[cfg(unix)]
fn restore_sigpipe() {
    // SAFETY: setting a signal's disposition to the default before any other thread exists has no
    // preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_sigpipe() {}
