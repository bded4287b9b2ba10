//! The `fusec` binary: runs the CLI and turns a panic (a compiler bug) into exit code 2.

// candle allocates a buffer per op; mimalloc makes small models several times faster than the system allocator
// (measured in the issue: 190-250 vs 930-1040 MLP steps/s).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = std::panic::catch_unwind(fusec::cli::main).unwrap_or_else(|_| {
        eprintln!(
            "error: internal compiler error (a bug in fusec); please report it with the input file"
        );
        2
    });
    std::process::exit(code);
}
