//! `fusec-fuzz`: the fuzz harness of docs/RELIABILITY.md, outside CI. Every input (grammar-generated, or a
//! byte or token mutation of an example, a stdlib file or a corpus file) goes through the CLI's own `check
//! --grad` and `summary` code in this process, with stdout and stderr sent to /dev/null. An input fails when
//! it panics, when a command returns exit code 2, when it takes more than `--time-limit` seconds, or when it
//! allocates more than `--mem-limit` bytes at its peak. Failing inputs are written to `--out`.
//!
//! Build and run from the repository root:
//! `cargo run --release --features harness --bin fusec-fuzz -- --inputs 1000000 --seed 1`

mod alloc;
mod generate;
mod mutate;

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use fusec::cli::check::CheckArgs;
use fusec::cli::summary::SummaryArgs;
use fusec::rng::SeededRng;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// The last panic's message (the default hook would print into /dev/null).
static PANIC: Mutex<String> = Mutex::new(String::new());

struct Options {
    inputs: u64,
    seed: u64,
    out: PathBuf,
    time_limit: f64,
    mem_limit: usize,
    /// The `--max-memory` the commands run with: below `mem_limit`, because the estimate is an estimate.
    budget: u64,
    replay: Option<PathBuf>,
    /// Keep every input with its exit codes in `out/inputs/` (to look at what the generators make).
    dump: bool,
    /// The first input's index (to continue a sequence after a crash).
    start: u64,
    /// Only write input N (with its folder) to `out/input-N.fuse`, without running it.
    write: Option<u64>,
    /// Run the inputs in this process (the default supervises a child that does, restarting it after a crash).
    child: bool,
}

fn options() -> Options {
    let mut o = Options {
        inputs: 1_000_000,
        seed: 1,
        out: PathBuf::from("target/fuzz-out"),
        time_limit: 2.0,
        mem_limit: 1 << 30,
        budget: 768 << 20,
        replay: None,
        dump: false,
        start: 0,
        write: None,
        child: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--inputs" => o.inputs = value().parse().unwrap_or(o.inputs),
            "--seed" => o.seed = value().parse().unwrap_or(o.seed),
            "--out" => o.out = PathBuf::from(value()),
            "--time-limit" => o.time_limit = value().parse().unwrap_or(o.time_limit),
            "--mem-limit" => {
                o.mem_limit = fusec::cli::parse_size(&value()).unwrap_or(1 << 30) as usize
            }
            "--max-memory" => o.budget = fusec::cli::parse_size(&value()).unwrap_or(768 << 20),
            "--replay" => o.replay = Some(PathBuf::from(value())),
            "--dump" => o.dump = true,
            "--start" => o.start = value().parse().unwrap_or(0),
            "--write" => o.write = value().parse().ok(),
            "--child" => o.child = true,
            other => {
                eprintln!("fusec-fuzz: unknown argument `{other}`");
                std::process::exit(1);
            }
        }
    }
    o
}

/// A seed file: its folder relative to the repository root and its text.
struct Seed {
    folder: String,
    text: String,
}

/// The examples, the stdlib and the corpora, copied into a scratch root that mirrors the repository's layout
/// (data folders linked), so relative imports and data paths resolve as they do in the repository.
fn prepare_root(repo: &Path, scratch: &Path) -> Vec<Seed> {
    let mut seeds = Vec::new();
    let _ = std::fs::remove_dir_all(scratch);
    for dir in [
        "examples/mfeat",
        "examples/iemocap",
        "examples/iemocap_shapes",
        "examples/mosi",
        "examples/mmt",
        "examples/tour",
        "stdlib",
        "tests/invalid",
        "tests/hostile",
    ] {
        let Ok(entries) = std::fs::read_dir(repo.join(dir)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files
            .iter()
            .filter(|p| p.extension().is_some_and(|x| x == "fuse"))
        {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            let target = scratch.join(dir);
            std::fs::create_dir_all(&target).expect("scratch folder");
            std::fs::write(target.join(f.file_name().expect("a file name")), &text).expect("copy");
            seeds.push(Seed {
                folder: dir.to_string(),
                text,
            });
        }
    }
    // Data stays where it is: data paths are not confined, and linking keeps the scratch root small.
    std::fs::create_dir_all(scratch.join("tests")).expect("scratch folder");
    #[cfg(unix)]
    for link in ["data", "tests/data"] {
        let _ = std::os::unix::fs::symlink(repo.join(link), scratch.join(link));
    }
    seeds
}

/// Where the input goes and what it is.
fn make_input(rng: &mut SeededRng, seeds: &[Seed]) -> (String, String, &'static str) {
    let seed = &seeds[mutate::pick(rng, seeds.len())];
    let other = &seeds[mutate::pick(rng, seeds.len())];
    match mutate::pick(rng, 100) {
        0..=14 => (
            "examples/mfeat".into(),
            generate::mfeat_program(rng),
            "generated (mfeat-shaped)",
        ),
        15..=24 => (
            "examples/mfeat".into(),
            generate::random_program(rng),
            "generated (random)",
        ),
        25..=59 => (
            seed.folder.clone(),
            mutate::bytes(rng, &seed.text),
            "byte mutation",
        ),
        _ => (
            seed.folder.clone(),
            mutate::tokens_edit(rng, &seed.text, &other.text),
            "token mutation",
        ),
    }
}

/// Output of the commands goes to /dev/null while an input runs; the harness reports on the saved stderr.
struct Quiet {
    saved_out: i32,
    saved_err: i32,
}

impl Quiet {
    fn new() -> Quiet {
        // SAFETY: plain descriptor duplication on descriptors this process owns.
        unsafe {
            Quiet {
                saved_out: libc::dup(1),
                saved_err: libc::dup(2),
            }
        }
    }

    fn silence(&self) {
        let _ = std::io::stdout().flush();
        // SAFETY: opening /dev/null and duplicating it over stdout and stderr.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            libc::close(null);
        }
    }

    fn restore(&self) {
        let _ = std::io::stdout().flush();
        // SAFETY: restoring the saved descriptors.
        unsafe {
            libc::dup2(self.saved_out, 1);
            libc::dup2(self.saved_err, 2);
        }
    }
}

/// What one input did.
struct Outcome {
    /// Exit codes of `check --grad` and `summary` (`None`: it panicked).
    codes: [Option<i32>; 2],
    /// CPU seconds.
    seconds: f64,
    peak: usize,
    panic: String,
}

/// CPU seconds (user and system, every thread) this process has used: the machine is shared, so wall-clock
/// time would measure the other engineers' load as much as fusec.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn run_input(path: &str, json: bool, quiet: &Quiet) -> Outcome {
    let base = alloc::live();
    alloc::reset_peak();
    let started = cpu_seconds();
    quiet.silence();
    let check = catch_unwind(AssertUnwindSafe(|| {
        fusec::cli::check::run(
            &CheckArgs {
                files: vec![path.to_string()],
                grad: true,
            },
            &[],
            json,
        )
    }));
    let summary = catch_unwind(AssertUnwindSafe(|| {
        fusec::cli::summary::run(
            &SummaryArgs {
                file: path.to_string(),
                model: None,
                dims: Vec::new(),
                mode: None,
            },
            &[],
            json,
        )
    }));
    quiet.restore();
    let panic = std::mem::take(&mut *PANIC.lock().unwrap_or_else(|e| e.into_inner()));
    Outcome {
        codes: [check.ok(), summary.ok()],
        seconds: cpu_seconds() - started,
        peak: alloc::peak_since(base),
        panic,
    }
}

fn failure(o: &Outcome, opts: &Options) -> Option<String> {
    if o.codes.iter().any(Option::is_none) {
        return Some(format!("panic: {}", o.panic));
    }
    if o.codes.contains(&Some(2)) {
        return Some(format!(
            "exit code 2 (check --grad {:?}, summary {:?})",
            o.codes[0], o.codes[1]
        ));
    }
    if o.peak > opts.mem_limit {
        return Some(format!("peak allocation {} bytes", o.peak));
    }
    if o.seconds > opts.time_limit {
        return Some(format!("took {:.2} s of CPU time", o.seconds));
    }
    None
}

fn main() {
    let opts = options();
    std::env::set_var("RAYON_NUM_THREADS", "1");
    fusec::guarded_read::set_max_memory(Some(opts.budget));
    std::panic::set_hook(Box::new(|info| {
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
    }));
    let repo = std::env::current_dir().expect("the working folder");
    let out = repo.join(&opts.out);
    std::fs::create_dir_all(&out).expect("the output folder");
    let quiet = Quiet::new();
    if let Some(file) = &opts.replay {
        let folder = file
            .parent()
            .map(|p| p.to_string_lossy().to_string())
            .unwrap_or_default();
        let path = file.to_string_lossy().to_string();
        let o = run_input(&path, false, &quiet);
        eprintln!(
            "{path} (in {folder}): codes {:?}, {:.3} s, peak {} bytes{}",
            o.codes,
            o.seconds,
            o.peak,
            failure(&o, &opts)
                .map(|f| format!(", FAILS: {f}"))
                .unwrap_or_default()
        );
        return;
    }
    if !opts.child && opts.write.is_none() {
        supervise(&opts, &out);
        return;
    }
    alloc::set_hard_cap(opts.mem_limit.saturating_mul(3));
    let scratch = std::env::temp_dir().join(format!("fusec-fuzz-{}", std::process::id()));
    let seeds = prepare_root(&repo, &scratch);
    std::env::set_current_dir(&scratch).expect("the scratch root");
    if let Some(i) = opts.write {
        let mut rng = SeededRng::stream(opts.seed, i);
        let (folder, text, kind) = make_input(&mut rng, &seeds);
        let name = out.join(format!("input-{i}.fuse"));
        std::fs::write(&name, &text).expect("write the input");
        eprintln!("{} ({kind}): put it in {folder}/ to run it", name.display());
        let _ = std::fs::remove_dir_all(&scratch);
        return;
    }
    let mut stats = Stats::default();
    let started = Instant::now();
    for i in opts.start..opts.inputs {
        let mut rng = SeededRng::stream(opts.seed, i);
        let (folder, text, kind) = make_input(&mut rng, &seeds);
        let path = format!("{folder}/fuzz_input.fuse");
        std::fs::write(&path, &text).expect("write the input");
        let _ = std::fs::write(out.join("current.txt"), format!("{} {i}\n", opts.seed));
        let o = run_input(&path, i % 5 == 0, &quiet);
        let mut verdict = failure(&o, &opts);
        if verdict.as_deref().is_some_and(|v| v.starts_with("took")) {
            // A slow input is timed again: page faults and cache misses on a shared machine count too.
            let again = run_input(&path, i % 5 == 0, &quiet);
            if failure(&again, &opts).is_none() {
                verdict = None;
            }
        }
        stats.record(kind, &o, verdict.is_some());
        if opts.dump {
            let dir = out.join("inputs");
            let _ = std::fs::create_dir_all(&dir);
            let codes: Vec<String> = o.codes.iter().map(|c| format!("{c:?}")).collect();
            let name = format!(
                "{i}-{}-{}.fuse",
                kind.split(' ').next().unwrap_or(""),
                codes.join("-")
            );
            let _ = std::fs::write(dir.join(name), &text);
        }
        if let Some(why) = verdict {
            let name = format!("fail-{}-{i}.fuse", opts.seed);
            let _ = std::fs::write(out.join(&name), &text);
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(out.join("failures.txt"))
                .expect("failures.txt");
            let _ = writeln!(log, "{name} ({kind}, in {folder}): {why}");
        }
        if (i + 1) % 10_000 == 0 {
            eprintln!("{}", stats.line(i + 1, started.elapsed().as_secs_f64()));
        }
    }
    let summary = stats.report(opts.inputs, started.elapsed().as_secs_f64(), &opts);
    eprintln!("{summary}");
    // A supervised run restarts its child after a crash: each segment appends its own summary.
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out.join("summary.txt"))
        .expect("summary.txt");
    let _ = writeln!(file, "inputs {}..{}:\n{summary}", opts.start, opts.inputs);
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Runs the inputs in a child process and restarts it after the input it was on when it died (an abort on the
/// allocation cap, or a crash no `catch_unwind` sees), recording that input as a failure.
fn supervise(opts: &Options, out: &Path) {
    let exe = std::env::current_exe().expect("the harness's own path");
    let mut start = opts.start;
    loop {
        let mut args: Vec<String> = std::env::args().skip(1).collect();
        args.extend(["--child".into(), "--start".into(), start.to_string()]);
        let status = std::process::Command::new(&exe)
            .args(&args)
            .status()
            .expect("start the harness");
        if status.success() {
            return;
        }
        let current = std::fs::read_to_string(out.join("current.txt")).unwrap_or_default();
        let Some(i) = current
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse::<u64>().ok())
        else {
            eprintln!("fusec-fuzz: the child failed ({status}) before its first input");
            return;
        };
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out.join("failures.txt"))
            .expect("failures.txt");
        let _ = writeln!(
            log,
            "input {i} of seed {} (write it with --write {i}): the process died ({status}): an allocation past \
             three times the memory limit, or a crash",
            opts.seed
        );
        eprintln!("fusec-fuzz: input {i} killed the child ({status}); continuing after it");
        start = i + 1;
        if start >= opts.inputs {
            return;
        }
    }
}

#[derive(Default)]
struct Stats {
    kinds: std::collections::BTreeMap<&'static str, u64>,
    check_ok: u64,
    check_user_error: u64,
    failures: u64,
    slowest: f64,
    heaviest: usize,
}

impl Stats {
    fn record(&mut self, kind: &'static str, o: &Outcome, failed: bool) {
        *self.kinds.entry(kind).or_default() += 1;
        match o.codes[0] {
            Some(0) => self.check_ok += 1,
            Some(1) => self.check_user_error += 1,
            _ => {}
        }
        self.failures += u64::from(failed);
        self.slowest = self.slowest.max(o.seconds);
        self.heaviest = self.heaviest.max(o.peak);
    }

    fn line(&self, n: u64, secs: f64) -> String {
        format!(
            "{n} inputs in {secs:.0} s: check --grad ok {}, user errors {}, failures {}, slowest {:.3} s of CPU, peak {:.1} MiB",
            self.check_ok,
            self.check_user_error,
            self.failures,
            self.slowest,
            self.heaviest as f64 / (1 << 20) as f64
        )
    }

    fn report(&self, n: u64, secs: f64, opts: &Options) -> String {
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        format!(
            "fusec-fuzz seed {}: {}\ninputs by kind: {}\nlimits: {} s of CPU time and {} bytes allocated at the peak per input (check --grad and summary together), commands run with --max-memory {}\n",
            opts.seed,
            self.line(n, secs),
            kinds.join(", "),
            opts.time_limit,
            opts.mem_limit,
            opts.budget
        )
    }
}
