//! `fusec data inspect FILE`: the structure of any supported data file (pickled feature releases, .npy, .npz,
//! .csv, .tsv, safetensors): keys, shapes, dtypes, NaN/inf counts and label balance. The first thing to run on a new file.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::report;

#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Subcommand, Debug, Clone)]
pub enum DataCommand {
    /// Print the structure of a data file.
    Inspect {
        /// The file to inspect.
        file: PathBuf,
    },
}

pub fn run(args: &DataArgs, json: bool) -> i32 {
    match &args.command {
        DataCommand::Inspect { file } => match crate::api::inspect_data(file) {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(e) => report(&e, json),
        },
    }
}
