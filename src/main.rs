//! The `fusec` binary: runs the CLI and turns a panic (a compiler bug) into exit code 2.

fn main() {
    let code = std::panic::catch_unwind(fusec::cli::main).unwrap_or_else(|_| {
        eprintln!(
            "error: internal compiler error (a bug in fusec); please report it with the input file"
        );
        2
    });
    std::process::exit(code);
}
