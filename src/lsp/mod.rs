//! `fusec lsp`: a language server over stdin/stdout (lsp-server's synchronous transport, lsp-types' messages).
//! It compiles every open document as `fusec check` does, through the CLI's loader with the open documents laid
//! over the disk, and answers from what the compiler produced: diagnostics (`publish`), hover with dtypes,
//! symbolic shapes and parameter counts from the checked IR (`hover`, `ir_facts`), go to definition
//! (`definition`) and completion of blocks and keyword arguments (`completion`). The embedded stdlib is served
//! under virtual `fusec-std:` URIs (`uri`).
//!
//! - `server.rs`: the loop, handshake, dispatch and shutdown;
//! - `documents.rs`: the open documents and the overlay loader;
//! - `analysis.rs`: one document compiled, with its syntax trees and scopes;
//! - `occurrence.rs`: the name under the cursor and where a value is bound;
//! - `blocks.rs`: a block's signature, header comment and ports;
//! - `position.rs`: byte offsets to LSP positions (UTF-16) and back;
//! - `uri.rs`: `file://` URIs and the stdlib's virtual ones.

mod analysis;
mod blocks;
mod completion;
mod definition;
mod documents;
mod hover;
mod ir_facts;
mod occurrence;
mod position;
mod publish;
mod server;
mod uri;

pub use server::{serve, STDLIB_SOURCE};
pub use uri::STD_SCHEME;

use lsp_server::Connection;

/// Serves on stdin/stdout until the client says `exit` or goes away; the process exit code (0 after a
/// `shutdown` then `exit`, 1 otherwise, as the protocol asks).
pub fn run_stdio() -> i32 {
    let (conn, io_threads) = Connection::stdio();
    let served = serve(&conn);
    // The writer thread ends once every sender is gone.
    drop(conn);
    let io = io_threads.join();
    match (served, io) {
        (Ok(()), _) => 0,
        (Err(why), Ok(())) => {
            eprintln!("fusec lsp: {why}");
            1
        }
        (Err(why), Err(io)) => {
            eprintln!("fusec lsp: {why}: {io}");
            1
        }
    }
}
