"""Tables of the side-by-side benchmark: progress lines while it runs, the Markdown results section, and its
place between the markers of docs/PERFORMANCE.md."""
import datetime
import os
import platform
import shlex
import subprocess

import torch

START = "<!-- benchmark results: start (written by benchmarks/run.py; edit outside the markers) -->"
END = "<!-- benchmark results: end -->"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fusec_commit():
    def git(*cmd):
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src", "Cargo.toml", "Cargo.lock")
    return commit + (" (with uncommitted changes under src/)" if dirty else "")


def meta(args, argv):
    settings = {k: v for k, v in vars(args).items() if k not in ("markdown", "json")}
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "fusec_commit": fusec_commit(),
        "command": "benchmarks/.venv/bin/python benchmarks/run.py " + " ".join(shlex.quote(a) for a in argv[1:]),
        "load_start": os.getloadavg(),
        "settings": settings,
    }


def num(x):
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def rounds(values, fmt=num):
    return " / ".join("error" if v is None else fmt(v) for v in values)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def get(d, key):
    return None if d is None or "error" in d else d.get(key)


def progress_line(family, name, threads, batch, r, f, t, fusec_s, torch_s):
    fr, tr = get(f, "train_steps_per_s"), t["train_steps_per_s"]
    line = (f"[{family} {name} threads {threads} batch {batch} round {r + 1}] fusec {num(fr)} steps/s, "
            f"PyTorch {num(tr)} steps/s, ratio {num(ratio(fr, tr))}")
    if "infer_examples_per_s" in t:
        fi, ti = get(f, "infer_examples_per_s"), t["infer_examples_per_s"]
        line += f"; prediction fusec {num(fi)} ex/s, PyTorch {num(ti)} ex/s, ratio {num(ratio(fi, ti))}"
    return line + f"  ({fusec_s:.0f} s + {torch_s:.0f} s)"


def mmt_progress_line(threads, r, f, t):
    parts = []
    for key, what in (("train_tokens_per_s", "tokens/s"), ("greedy_per_s", "greedy sentences/s"),
                      ("beam_per_s", "beam sentences/s")):
        parts.append(f"{what} fusec {num(get(f, key))} PyTorch {num(t[key])} ratio {num(ratio(get(f, key), t[key]))}")
    return f"[translation threads {threads} round {r + 1}] " + "; ".join(parts)


def loads(cell):
    return " / ".join(f"{x:.1f}" for x in cell.get("load", []))


def training_table(results, peaks):
    lines = ["| model | params | threads | batch | fusec steps/s | PyTorch steps/s | fusec / PyTorch | "
             "fusec GFLOP/s (% of peak) | PyTorch GFLOP/s (% of peak) | load |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for name, cells in results.items():
        for key, cell in cells.items():
            threads, batch = (int(x) for x in key.split("/"))
            fs = [get(f, "train_steps_per_s") for f in cell["fusec"]]
            ts = [t["train_steps_per_s"] for t in cell["torch"]]
            fwd = next((get(f, "forward_flops_per_example") for f in cell["fusec"]
                        if get(f, "forward_flops_per_example")), None)
            peak = peaks.get(str(threads))

            def gflops(rate):
                if rate is None or fwd is None:
                    return None
                return 3 * fwd * batch * rate / 1e9

            def with_peak(rate):
                g = gflops(rate)
                return "–" if g is None else f"{g:.1f} ({100 * g / peak:.0f}%)" if peak else f"{g:.1f}"

            lines.append(f"| {name} | {cell['torch'][0]['params']:,} | {threads} | {batch} | {rounds(fs)} | "
                         f"{rounds(ts)} | {rounds([ratio(a, b) for a, b in zip(fs, ts)])} | "
                         f"{' / '.join(with_peak(r) for r in fs)} | {' / '.join(with_peak(r) for r in ts)} | "
                         f"{loads(cell)} |")
    return "\n".join(lines)


def prediction_table(results):
    lines = [f"| model | threads | fusec examples/s | PyTorch examples/s | fusec / PyTorch | prediction FLOPs/example "
             f"(of the training forward) | fusec GFLOP/s | PyTorch GFLOP/s |",
             "|---|--:|--:|--:|--:|--:|--:|--:|"]
    for name, cells in results.items():
        for key, cell in cells.items():
            if "infer_examples_per_s" not in cell["torch"][0]:
                continue
            threads = key.split("/")[0]
            fs = [get(f, "infer_examples_per_s") for f in cell["fusec"]]
            ts = [t["infer_examples_per_s"] for t in cell["torch"]]
            pred, fwd = cell["torch"][0]["predict_flops"], cell["torch"][0]["train_forward_flops"]

            def gflops(rates):
                return " / ".join("–" if r is None else f"{pred * r / 1e9:.1f}" for r in rates)

            lines.append(f"| {name} | {threads} | {rounds(fs)} | {rounds(ts)} | "
                         f"{rounds([ratio(a, b) for a, b in zip(fs, ts)])} | {pred / 1e6:.3g} M ({100 * pred / fwd:.0f}%) | "
                         f"{gflops(fs)} | {gflops(ts)} |")
    return "\n".join(lines)


def translation_table(results):
    lines = ["| threads | fusec tokens/s | PyTorch tokens/s | fusec / PyTorch | greedy sentences/s fusec | PyTorch | "
             "fusec / PyTorch | beam sentences/s fusec | PyTorch | fusec / PyTorch | load |",
             "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for threads, cell in results.items():
        row = [threads]
        for key in ("train_tokens_per_s", "greedy_per_s", "beam_per_s"):
            fs = [get(f, key) for f in cell["fusec"]]
            ts = [t[key] for t in cell["torch"]]
            row += [rounds(fs), rounds(ts), rounds([ratio(a, b) for a, b in zip(fs, ts)])]
        row.append(loads(cell))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def markdown(results):
    m, s = results["meta"], results["meta"]["settings"]
    peaks = results["gemm_peak"]
    out = [f"### Run of {m['date']}", "",
           f"- Command: `{m['command']}`",
           f"- Machine: {m['cpu']}, {m['cores']} cores; load average {m['load_start'][0]:.1f} at the start, "
           f"{m.get('load_end', [float('nan')])[0]:.1f} at the end; {m.get('elapsed_s', 0) / 60:.0f} minutes.",
           f"- fusec {m['fusec_commit']}; PyTorch {m['torch']} (CPU capability {m['cpu_capability']}), "
           f"Python {m['python']}.",
           "- SGEMM peak (torch.mm, float32, 2048 x 2048 x 2048, best of 5 timings at the start and 5 at the end "
           "of the run): " + ", ".join(f"{t} thread(s) {g:.1f} GFLOP/s" for t, g in peaks.items()) + ".",
           f"- load: the 1-minute load average when each round started. With more runnable threads than cores the "
           f"numbers do not hold, the 2-thread ones least (PyTorch's OpenMP threads spin while they wait).",
           f"- Protocol: {s['rounds']} round(s) per configuration, alternating fusec and PyTorch (each cell lists "
           f"the rounds in order); training: {s['warmup']} warm-up steps then the median of {s['reps']} timings of "
           f"{s['steps']} steps at batch < 64 ({s['warmup_large']} and {s['steps_large']} at batch >= 64; mfeat "
           f"{s['mfeat_warmup']} and {s['mfeat_steps']}); prediction at batch {s['infer_batch']}: 2 batches, then "
           f"the median of 3 timings of 5.",
           "- Clipping: " + ("both sides clip gradients at the .fuse file's `clip_norm`, per optimizer step over "
                             "that step's parameters (PyTorch: torch.nn.utils.clip_grad_norm_)"
                             if s["torch_clip"] == "file" else
                             "PyTorch does not clip; fusec clips at the .fuse file's `clip_norm` (it cannot turn "
                             "clipping off: `--set clip_norm=none` is rejected), so fusec does a little more work")
           + ": " + ", ".join(f"`{f}` {c:g}" for f, c in results["clips"].items() if c is not None) + ".",
           "- GFLOP/s of training = 3 x forward FLOPs per example (fusec's count at the data's lengths, the usual "
           "forward + backward estimate) x examples/s; of prediction = the prediction path's matrix-product FLOPs "
           "(torch.utils.flop_counter plus the LSTMs) x examples/s. Percentages are of the SGEMM peak at the same "
           "thread count.", ""]
    if results["iemocap"]:
        out += ["#### IEMOCAP models (synthetic MulT-layout data, text 20 x 300, audio 20 x 74, vision 20 x 35): "
                "training", "", training_table(results["iemocap"], peaks), "",
                f"#### IEMOCAP models: prediction at batch {s['infer_batch']}", "",
                prediction_table(results["iemocap"]), ""]
    if results["mfeat"]:
        out += ["#### mfeat models (fou 76, zer 47, mor 6): training", "",
                training_table(results["mfeat"], peaks), "",
                f"#### mfeat models: prediction at batch {s['infer_batch']}", "",
                prediction_table(results["mfeat"]), ""]
    if results["mmt"]:
        cell = next(iter(results["mmt"].values()))
        t = cell["torch"][0]
        out += [f"#### Translation (`{cell['file']}`, {t['params']:,} parameters, emoji-mt EN->DE, batch 32, "
                f"{t['epochs']} epoch(s), then greedy and beam-{t['beam']} decoding of the {t['sentences']} "
                f"validation and test sentences)", "", translation_table(results["mmt"]), "",
                "Decoding speed depends on how long the trained model's hypotheses are (both sides stop a batch once "
                "every row has finished). PyTorch's mean hypothesis length, greedy / beam, per round: "
                + "; ".join(f"{th} thread(s): " + ", ".join(f"{x['greedy_mean_len']:.1f} / {x['beam_mean_len']:.1f}"
                                                            for x in c["torch"])
                            for th, c in results["mmt"].items())
                + " tokens (fusec does not report its own).", ""]
    return "\n".join(out).rstrip() + "\n"


def write_markdown(path, text):
    """Puts `text` between the markers of `path` (appending the markers when they are missing)."""
    old = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    block = f"{START}\n{text}{END}"
    if START in old and END in old:
        head, rest = old.split(START, 1)
        new = head + block + rest.split(END, 1)[1]
    else:
        new = old.rstrip() + ("\n\n" if old else "") + block + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
