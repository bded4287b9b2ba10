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
    /// Instead of throughput: crash consistency of `fusec run FILE --seed N` with the global `--set`s, killed
    /// with SIGKILL at random moments and resumed, each compared bit for bit with an uninterrupted run.
    #[arg(long, value_name = "FILE")]
    pub crash: Option<String>,
    /// Kills of `--crash`.
    #[arg(long, default_value_t = 50)]
    pub kills: usize,
    /// The `--seed` of the runs `--crash` kills.
    #[arg(long, default_value_t = 3)]
    pub run_seed: u64,
    /// Keep the run directories of `--crash` (in the system's temporary folder).
    #[arg(long)]
    pub keep: bool,
    /// Measure a model file on its own data instead: training steps/s (pre-gathered batches, warm-up, median of
    /// `--reps` timings) and prediction examples/s (the benchmarks/ protocol).
    #[arg(long, value_name = "FILE")]
    pub train: Option<String>,
    /// Batch size of the timed training steps.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Training steps per timing.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
    /// Untimed training steps first.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Timings (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Batch size of the timed prediction.
    #[arg(long, default_value_t = 256)]
    pub infer_batch: usize,
    /// Print the `--train` measurement as one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn run_train_file(args: &BenchArgs, file: &str, sets: &[(String, String)]) -> i32 {
    let opts = crate::bench::TrainBenchOptions {
        file: file.to_string(),
        sets: sets.to_vec(),
        batch: args.batch,
        steps: args.steps,
        warmup: args.warmup,
        reps: args.reps,
        infer_batch: args.infer_batch,
    };
    match crate::bench::bench_train_file(&opts) {
        Ok(b) => {
            if args.json {
                match serde_json::to_string(&b) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return 2;
                    }
                }
            } else {
                print!("{}", crate::bench::format_train_bench(&b));
            }
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

pub fn run(args: &BenchArgs, sets: &[(String, String)]) -> i32 {
    if let Some(file) = &args.crash {
        let opts = crate::bench::CrashOptions {
            file: file.clone(),
            run_seed: args.run_seed,
            sets: sets.to_vec(),
            kills: args.kills,
            seed: 1,
            dir: std::env::temp_dir().join(format!("fusec-crash-{}", std::process::id())),
            keep: args.keep,
        };
        return match crate::bench::crash_consistency(&opts) {
            Ok(r) => {
                print!("{}", crate::bench::format_crash(&r));
                i32::from(r.trials.iter().any(|t| !t.differences.is_empty()))
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
    }
    if let Some(file) = &args.train {
        return run_train_file(args, file, sets);
    }
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
