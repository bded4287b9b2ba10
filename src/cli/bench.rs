//! `fusec bench`: prints training steps/s of compiled models and of the same models written directly against
//! candle, measured in this process, with their ratio.

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Training steps timed for the MLP.
    #[arg(long, default_value_t = 300)]
    pub mlp_steps: usize,
    /// Training steps timed for the BiLSTM.
    #[arg(long, default_value_t = 30)]
    pub lstm_steps: usize,
    /// Rounds (alternating implementations); each keeps its best round.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Also measure a translation model file: training tokens/s and decoding sentences/s, greedy and beam
    /// (for example `examples/mmt/emoji_de_text.fuse`).
    #[arg(long, value_name = "FILE")]
    pub mmt: Option<String>,
    /// Epochs the translation model trains for the measurement.
    #[arg(long, default_value_t = 1)]
    pub mmt_epochs: usize,
    /// Beam size compared with greedy decoding.
    #[arg(long, default_value_t = 5)]
    pub beam: usize,
}

pub fn run(args: &BenchArgs) -> i32 {
    match crate::bench::run_all(args.mlp_steps, args.lstm_steps, args.rounds) {
        Ok(rows) => {
            print!("{}", crate::bench::format_rows(&rows));
            if let Some(file) = &args.mmt {
                match crate::bench::mmt_rates(file, args.mmt_epochs, args.beam) {
                    Ok(r) => print!("{}", crate::bench::format_mmt(&r)),
                    Err(e) => {
                        eprintln!("{e}");
                        return 1;
                    }
                }
            }
            println!(
                "threads: {} (set RAYON_NUM_THREADS to change)",
                candle_core::utils::get_num_threads()
            );
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}
