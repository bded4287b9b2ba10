//! `fusec lsp`: the language server (src/lsp/) on stdin and stdout, for editors. Diagnostics go to the client;
//! nothing else is printed on stdout, and the server's own complaints go to stderr.

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct LspArgs {
    /// Accepted because some clients pass it (VS Code's `vscode-languageclient` with the stdio transport);
    /// stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}

/// Serves until the client exits; the exit code the protocol asks for.
pub fn run(_args: &LspArgs) -> i32 {
    crate::lsp::run_stdio()
}
