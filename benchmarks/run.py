"""The side-by-side benchmark: fusec against PyTorch eager on the same models, measured alternately.

    bash benchmarks/setup.sh                                   # once: benchmarks/.venv with pinned torch
    cargo build --release                                      # target/release/fusec
    benchmarks/.venv/bin/python benchmarks/run.py              # the full run (about 25 minutes, idle 2 cores)
    benchmarks/.venv/bin/python benchmarks/run.py --quick      # a few-minute smoke run
    benchmarks/.venv/bin/python benchmarks/run.py --models concat,tfn --mfeat none --no-mmt --threads 1 \\
        --batches 32 --markdown docs/PERFORMANCE.md

For every configuration (model, threads, batch) it runs `fusec bench --train FILE` (a subprocess) and the PyTorch
reference (in this process) one after the other, `--rounds` times: fusec, PyTorch, fusec, PyTorch. Absolute
rates on a shared machine drift by a quarter within minutes; only side-by-side ratios hold, so every round's
ratio is reported. docs/PERFORMANCE.md describes the protocol.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import torch  # noqa: E402

import make_data  # noqa: E402
import report  # noqa: E402
import torch_bench as tb  # noqa: E402
import torch_data as td  # noqa: E402
import torch_models as tm  # noqa: E402

QUICK = dict(threads="1", batches="32", rounds=1, steps=3, warmup=1, reps=1, steps_large=3, warmup_large=1,
             mfeat_steps=10, mfeat_warmup=2, mmt_epochs=1)
FULL = dict(threads="1,2", batches="32,100", rounds=2, steps=40, warmup=5, reps=3, steps_large=12, warmup_large=2,
            mfeat_steps=50, mfeat_warmup=5, mmt_epochs=2)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 thread, batch 32, 3 steps, 1 round")
    ap.add_argument("--models", default=",".join(tm.IEMOCAP), help="IEMOCAP models, or 'none'")
    ap.add_argument("--mfeat", default=",".join(tm.MFEAT), help="mfeat models, or 'none'")
    ap.add_argument("--no-mmt", action="store_true", help="skip the translation model")
    ap.add_argument("--threads", help="thread counts (default 1,2)")
    ap.add_argument("--batches", help="training batch sizes (default 32,100)")
    ap.add_argument("--rounds", type=int, help="fusec/PyTorch pairs per configuration (default 2)")
    ap.add_argument("--steps", type=int, help="timed steps per repetition at batch < 64 (default 40)")
    ap.add_argument("--warmup", type=int, help="untimed steps first at batch < 64 (default 5)")
    ap.add_argument("--steps-large", type=int, help="timed steps per repetition at batch >= 64 (default 12)")
    ap.add_argument("--warmup-large", type=int, help="untimed steps first at batch >= 64 (default 2)")
    ap.add_argument("--reps", type=int, help="timed repetitions; the median is reported (default 3)")
    ap.add_argument("--mfeat-steps", type=int, help="timed steps per repetition of the mfeat models (default 50)")
    ap.add_argument("--mfeat-warmup", type=int, help="untimed mfeat steps first (default 5)")
    ap.add_argument("--mmt-epochs", type=int, help="training epochs of the translation model (default 2)")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--infer-batch", type=int, default=256)
    ap.add_argument("--torch-clip", choices=["file", "none"], default="file",
                    help="both sides clip gradients as the .fuse file does (default), or neither does (fusec "
                         "gets --set clip_norm=none)")
    ap.add_argument("--fusec", default="target/release/fusec", help="the fusec binary (relative to the repo)")
    ap.add_argument("--data", default=os.path.join(HERE, ".data"), help="folder of the synthetic IEMOCAP file")
    ap.add_argument("--markdown", help="write the results between the markers of this file (docs/PERFORMANCE.md)")
    ap.add_argument("--json", help="write every measurement to this file")
    ap.add_argument("--from-json", help="measure nothing: print (and with --markdown write) the tables of a "
                                        "--json file of an earlier run")
    args = ap.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.threads = [int(t) for t in str(args.threads).split(",")]
    args.batches = [int(b) for b in str(args.batches).split(",")]
    args.models = [] if args.models == "none" else args.models.split(",")
    args.mfeat = [] if args.mfeat == "none" else args.mfeat.split(",")
    for name in args.models:
        if name not in tm.IEMOCAP:
            ap.error(f"unknown IEMOCAP model `{name}` (one of {', '.join(tm.IEMOCAP)})")
    for name in args.mfeat:
        if name not in tm.MFEAT:
            ap.error(f"unknown mfeat model `{name}` (one of {', '.join(tm.MFEAT)})")
    return args


def log(msg):
    print(msg, flush=True)


def file_clip(path):
    """The `clip_norm` of a .fuse file's train block, or None."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        m = re.search(r"^\s*clip_norm\s*=\s*([0-9.eE+-]+)", f.read(), re.M)
    return float(m.group(1)) if m else None


def run_fusec(args, cmd):
    """Runs fusec with `cmd` in the repository root; -> stdout, or raises with its stderr."""
    proc = subprocess.run([os.path.join(ROOT, args.fusec)] + cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"fusec {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def fusec_train(args, family, file, threads, batch, steps, warmup, infer_batch):
    cmd = ["--threads", str(threads)]
    if family == "iemocap":
        cmd += ["--set", f"data.path={os.path.abspath(args.data)}"]
    if args.torch_clip == "none":
        cmd += ["--set", "clip_norm=none"]
    cmd += ["bench", "--train", file, "--batch", str(batch), "--steps", str(steps), "--warmup", str(warmup),
            "--reps", str(args.reps), "--infer-batch", str(infer_batch), "--json"]
    out = run_fusec(args, cmd)
    return json.loads(out.strip().splitlines()[-1])


MMT_LINE = re.compile(r"training ([\d.]+) tokens/s \(([\d.]+) sentence pairs/s\); decoding (\d+) sentences: "
                      r"greedy ([\d.]+)/s, beam (\d+) ([\d.]+)/s")


def fusec_mmt(args, file, threads):
    out = run_fusec(args, ["--threads", str(threads), "bench", "--mmt", file, "--mmt-epochs", str(args.mmt_epochs),
                           "--beam", str(args.beam), "--mlp-steps", "1", "--lstm-steps", "1", "--rounds", "1"])
    m = MMT_LINE.search(out)
    if not m:
        raise RuntimeError(f"no translation line in fusec bench's output:\n{out}")
    return {"train_tokens_per_s": float(m.group(1)), "train_pairs_per_s": float(m.group(2)),
            "sentences": int(m.group(3)), "greedy_per_s": float(m.group(4)), "beam": int(m.group(5)),
            "beam_per_s": float(m.group(6))}


class Bench:
    """The run: its settings, the data, every measurement so far."""

    def __init__(self, args):
        self.args = args
        self.results = {"meta": report.meta(args, sys.argv), "gemm_peak": {}, "iemocap": {}, "mfeat": {},
                        "mmt": {}, "clips": {},
                        "gemm_runs": {}}
        for family in tm.FAMILIES.values():
            for _, file in family.values():
                self.results["clips"][file] = file_clip(file)
        self.data = {}

    def save(self):
        if self.args.json:
            os.makedirs(os.path.dirname(os.path.abspath(self.args.json)), exist_ok=True)
            with open(self.args.json, "w", encoding="utf-8") as f:
                json.dump(self.results, f, indent=1)

    def dataset(self, family):
        if family not in self.data:
            if family == "iemocap":
                path = os.path.join(self.args.data, make_data.FILE_NAME)
                if not os.path.exists(path):
                    log(f"writing the synthetic IEMOCAP file {path}")
                    make_data.write(self.args.data)
                self.data[family] = td.load_iemocap(path)
            elif family == "mfeat":
                self.data[family] = td.load_mfeat(os.path.join(ROOT, "data", "mfeat"))
            else:
                self.data[family] = td.load_translation(os.path.join(ROOT, "data", "emoji-mt"))
        return self.data[family]

    def torch_clip(self, file):
        return file_clip(file) if self.args.torch_clip == "file" else None

    def torch_train(self, family, name, threads, batch, steps, warmup, infer):
        torch.set_num_threads(threads)
        file = tm.FAMILIES[family][name][1]
        data = self.dataset(family)
        model = tm.build(family, name, clip=self.torch_clip(file))
        pool = td.pool(data, batch)
        rate, reps = tb.train_rate(model, pool, warmup, steps, self.args.reps)
        out = {"params": tm.n_params(model), "train_steps_per_s": rate, "train_reps": reps}
        if infer:
            n = self.args.infer_batch
            big = td.first(data, n)
            out["infer_examples_per_s"], out["infer_reps"] = tb.infer_rate(tm.build(family, name), big, n)
            out["train_forward_flops"] = tb.forward_flops(tm.build(family, name), pool[0], batch, True)
            out["predict_flops"] = tb.forward_flops(tm.build(family, name), big, n, False)
        return out

    def measure_training(self, family, names):
        a = self.args
        for threads in a.threads:
            for bi, batch in enumerate(a.batches):
                for name in names:
                    file = tm.FAMILIES[family][name][1]
                    if family == "mfeat":
                        steps, warmup = a.mfeat_steps, a.mfeat_warmup
                    elif batch >= 64:
                        steps, warmup = a.steps_large, a.warmup_large
                    else:
                        steps, warmup = a.steps, a.warmup
                    infer = bi == 0  # prediction once per thread count, in the first batch size's runs
                    self.dataset(family)  # fusec reads the same file: it must exist before fusec's turn
                    cell = self.results[family].setdefault(name, {}).setdefault(
                        f"{threads}/{batch}", {"fusec": [], "torch": [], "load": []})
                    for r in range(a.rounds):
                        cell["load"].append(os.getloadavg()[0])
                        t0 = time.perf_counter()
                        try:
                            f = fusec_train(a, family, file, threads, batch, steps, warmup,
                                            a.infer_batch if infer else 2)
                        except RuntimeError as e:
                            f = {"error": str(e)}
                            log(f"  {e}")
                        if not infer:
                            f.pop("infer_examples_per_s", None)
                        t1 = time.perf_counter()
                        t = self.torch_train(family, name, threads, batch, steps, warmup, infer)
                        t2 = time.perf_counter()
                        if "params" in f and f["params"] != t["params"]:
                            raise SystemExit(f"{family} {name}: PyTorch has {t['params']} parameters, fusec "
                                             f"{f['params']}: the reference no longer matches {file}")
                        cell["fusec"].append(f)
                        cell["torch"].append(t)
                        log(report.progress_line(family, name, threads, batch, r, f, t, t1 - t0, t2 - t1))
                        self.save()

    def measure_translation(self):
        a = self.args
        file = next(iter(tm.TRANSLATION.values()))[1]
        data = self.dataset("mmt")
        for threads in a.threads:
            cell = self.results["mmt"].setdefault(str(threads), {"fusec": [], "torch": [], "load": [], "file": file})
            for r in range(a.rounds):
                cell["load"].append(os.getloadavg()[0])
                try:
                    f = fusec_mmt(a, file, threads)
                except RuntimeError as e:
                    f = {"error": str(e)}
                    log(f"  {e}")
                torch.set_num_threads(threads)
                t = tb.translation_rates(data, a.mmt_epochs, a.beam, clip=self.torch_clip(file))
                cell["fusec"].append(f)
                cell["torch"].append(t)
                log(report.mmt_progress_line(threads, r, f, t))
                self.save()

    def measure_gemm(self):
        """The SGEMM peak per thread count: the best of the measurements at the start and the end of the run."""
        for threads in self.args.threads:
            runs = self.results["gemm_runs"].setdefault(str(threads), [])
            runs.append(tb.gemm_peak(threads))
            self.results["gemm_peak"][str(threads)] = max(runs)
            log(f"SGEMM 2048^3 with {threads} thread(s): {runs[-1]:.1f} GFLOP/s")

    def run(self):
        a = self.args
        started = time.perf_counter()
        load, cores = os.getloadavg()[0], os.cpu_count() or 1
        if load > 0.5:
            log(f"warning: load average {load:.1f} on {cores} cores before the run: other work shares the cores, "
                f"so these numbers are not a record")
        self.measure_gemm()
        if a.models:
            self.measure_training("iemocap", a.models)
        if a.mfeat:
            self.measure_training("mfeat", a.mfeat)
        if not a.no_mmt:
            self.measure_translation()
        self.measure_gemm()
        self.results["meta"]["elapsed_s"] = time.perf_counter() - started
        self.results["meta"]["load_end"] = os.getloadavg()
        self.save()
        return self.results


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as f:
            results = json.load(f)
    else:
        if not os.path.exists(os.path.join(ROOT, args.fusec)):
            raise SystemExit(f"no fusec binary at {args.fusec}: run `cargo build --release` first (or pass --fusec)")
        results = Bench(args).run()
    text = report.markdown(results)
    if args.markdown:
        report.write_markdown(args.markdown, text)
    print()
    print(text, flush=True)
    if args.markdown:
        log(f"wrote the results into {args.markdown}")


if __name__ == "__main__":
    main()
