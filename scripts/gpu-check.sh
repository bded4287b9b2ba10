#!/usr/bin/env bash
# The prepared GPU check of issue 9: build here, run on a GPU machine (nvcc 13.0 driver, PyTorch, no Rust, no
# network), sized to finish in about 8 minutes on an H200.
#
#   scripts/gpu-check.sh pack              here: build the cuda release binary and the cuda test binary, strip
#                                          them and stage them in .gpu-check/ (ignored; carry it to the GPU)
#   scripts/gpu-check.sh run               there, from the repository root: parity tests on CUDA, one epoch of
#                                          every paper example with --device cuda, and training steps/s of the
#                                          six paper models beside PyTorch eager on the same GPU; writes
#                                          gpu-check.md (the tables) and the logs into $OUT
#   scripts/gpu-check.sh run --dry-run     the same steps here, on the CPU with tiny sizes, to check the script
#
# The fixtures, sample data and examples are tracked files, so they travel with the working tree; only the
# binaries need carrying. Budget: GPU_CHECK_BUDGET seconds (default 450) for the whole run; a step that would
# start past it is skipped and says so in the report.
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE=.gpu-check

pack() {
    # shellcheck source=scripts/cuda-env.sh
    source scripts/cuda-env.sh
    local started=$SECONDS
    nice -n 15 cargo build --release --locked --features cuda
    local test_bin
    test_bin=$(nice -n 15 cargo test --locked --features cuda --no-run --message-format=json |
        python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "it" and m.get("executable"):
        print(m["executable"])')
    [[ -n "$test_bin" ]] || { echo "gpu-check: no integration-test binary was built" >&2; exit 1; }
    rm -rf "$STAGE" && mkdir -p "$STAGE"
    local bins
    bins=$(mktemp -d)
    strip -o "$bins/fusec" target/release/fusec
    strip -o "$bins/it" "$test_bin"
    {
        echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')"
        echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(nvcc --version | grep release), CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP"
        echo "build seconds $((SECONDS - started))"
        for f in fusec it; do
            echo "$f $(stat -c %s "$bins/$f") bytes stripped; needs: $(objdump -p "$bins/$f" | awk '/NEEDED/ {print $2}' | tr '\n' ' ')"
        done
    } >"$STAGE/manifest.txt"
    # The kernels' machine code compresses well (about 8x): the device tool carries at most 64 MiB.
    tar -C "$bins" -cf - fusec it | xz -T0 -6 >"$STAGE/bins.tar.xz"
    rm -rf "$bins"
    cat "$STAGE/manifest.txt"
    du -sh "$STAGE"
}

# ---------------------------------------------------------------------------------------------------------------
# The run: everything below works from the staged binaries, python3 and the tracked files only.

log() { echo "[$(date +%H:%M:%S) +$((SECONDS))s] $*" | tee -a "$OUT/log.txt" >&2; }

over_budget() { ((SECONDS > BUDGET)); }

# Finds cuBLAS, cuRAND, NVRTC and the CUDA runtime (linked by candle through cudarc) where PyTorch's wheels or a
# toolkit put them, and the driver's libcuda; exports LD_LIBRARY_PATH. Fails with what is missing.
find_cuda_libs() {
    local dirs=() d
    while IFS= read -r d; do dirs+=("$d"); done < <(python3 - <<'EOF' 2>/dev/null || true
import glob, os, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()]
try:
    import nvidia
    roots += list(nvidia.__path__)
except Exception:
    pass
seen = []
for r in roots:
    for lib in glob.glob(os.path.join(r, "**", "lib", "lib*.so.*"), recursive=True):
        d = os.path.dirname(lib)
        if d not in seen:
            seen.append(d)
print("\n".join(seen))
EOF
)
    dirs+=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu)
    local path=""
    for d in "${dirs[@]}"; do [[ -d "$d" ]] && path="${path:+$path:}$d"; done
    export LD_LIBRARY_PATH="${path}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    local missing
    missing=$(ldd "$FUSEC" | awk '/not found/ {print $1}' | tr '\n' ' ')
    if [[ -n "$missing" ]]; then
        log "missing shared libraries: $missing"
        return 1
    fi
    ldd "$FUSEC" | grep -E 'cublas|curand|nvrtc|cudart|libcuda' | tee -a "$OUT/log.txt" >&2
}

parity() {
    log "parity tests on $DEVICE"
    local filters=(nn_activation nn_attention nn_dropout_mask nn_fusion nn_fused_gates nn_ganfusion nn_loss nn_recurrent
        fusion_parity fusion_prims optim:: precision:: resident::)
    local status=0
    # The test binary runs without cargo, so the thread pin of .cargo/config.toml is set here.
    RAYON_NUM_THREADS=1 FUSEC_TEST_DEVICE=$DEVICE timeout 240 "$TESTS" --test-threads 4 "${filters[@]}" >"$OUT/parity.txt" 2>&1 ||
        status=$?
    PARITY_LINE=$(grep -E '^test result:' "$OUT/parity.txt" | tail -n1 || true)
    [[ -n "$PARITY_LINE" ]] || PARITY_LINE="no result (exit $status); see parity.txt"
    log "parity: $PARITY_LINE"
}

# One epoch of every paper example: the emotion models on the IEMOCAP format sample and the mfeat comparison.
examples() {
    EXAMPLE_ROWS=""
    local f name status secs metric
    for f in examples/iemocap/*.fuse examples/mfeat/*.fuse; do
        name=${f#examples/}
        if over_budget; then
            EXAMPLE_ROWS+="| $name | skipped (budget) | | |"$'\n'
            continue
        fi
        status=ok
        timeout 120 "$FUSEC" run "$f" --device "$DEVICE" --epochs 1 --quiet --out "$WORK/runs/${name//\//_}" \
            >>"$OUT/examples.txt" 2>&1 || status="failed ($?)"
        secs=$(report_field "$WORK/runs/${name//\//_}/report.json" train_seconds)
        metric=$(report_field "$WORK/runs/${name//\//_}/report.json" test)
        EXAMPLE_ROWS+="| $name | $status | $secs | $metric |"$'\n'
        log "example $name: $status ($secs s)"
    done
}

report_field() {
    python3 - "$1" "$2" <<'EOF' 2>/dev/null || echo "-"
import json, sys
r = json.load(open(sys.argv[1]))
v = r[sys.argv[2]]
if isinstance(v, dict):
    # The loss and the task's first metric (accuracy, acc or mae).
    keys = [k for k in v if k == "loss"] + [k for k in v if "." not in k and k != "loss"][:1]
    print(", ".join(f"{k} {v[k]:.3f}" for k in keys))
else:
    print(f"{v:.4f}")
EOF
}

# A pickle in MulT's aligned IEMOCAP layout with `steps` training batches of `batch` examples.
make_data() {
    local dir=$1 n_train=$2 n_eval=$3
    mkdir -p "$dir"
    python3 - "$dir/iemocap_data.pkl" "$n_train" "$n_eval" <<'EOF'
import pickle, sys
import numpy as np
path, n_train, n_eval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
def split(n):
    labels = np.zeros((n, 4, 2), np.float32)
    labels[np.arange(n)[:, None], np.arange(4)[None, :], rng.integers(0, 2, (n, 4))] = 1.0
    return {"text": rng.standard_normal((n, 20, 300), dtype=np.float32),
            "audio": rng.standard_normal((n, 20, 74), dtype=np.float32),
            "vision": rng.standard_normal((n, 20, 35), dtype=np.float32), "labels": labels}
with open(path, "wb") as f:
    pickle.dump({"train": split(n_train), "valid": split(n_eval), "test": split(n_eval)}, f, protocol=4)
EOF
}

# fusec's steps/s for one model, batch and precision: two runs of 1 and 3 epochs of `steps` batches each;
# (3 - 1) * steps / (difference of their train_seconds) leaves start-up and first-use costs out.
fusec_rate() {
    local model=$1 batch=$2 precision=$3 steps=$4 data=$5 out t1 t3
    for e in 1 3; do
        out="$WORK/speed/$model-$batch-$precision-$e"
        timeout 300 "$FUSEC" run "examples/iemocap/$model.fuse" --device "$DEVICE" --epochs "$e" --quiet \
            --out "$out" --set "data.path=$data" --set "batch_size=$batch" --set "precision=$precision" \
            --set patience=100 >>"$OUT/speed.txt" 2>&1 || { echo "failed"; return; }
    done
    t1=$(report_field "$WORK/speed/$model-$batch-$precision-1/report.json" train_seconds)
    t3=$(report_field "$WORK/speed/$model-$batch-$precision-3/report.json" train_seconds)
    python3 -c "import sys; t1, t3 = float(sys.argv[1]), float(sys.argv[2]); print(f'{2 * $steps / (t3 - t1):.2f}' if t3 > t1 else '-')" "$t1" "$t3"
}

speed() {
    SPEED_ROWS=""
    local batch steps model p rate key
    declare -A RATES
    for batch in "${BATCHES[@]}"; do
        steps=$STEPS
        make_data "$WORK/data-$batch" $((steps * batch)) "$batch"
        for model in "${MODELS[@]}"; do
            for p in f32 bf16; do
                [[ "$p" == bf16 && " ${BF16_MODELS[*]} " != *" $model "* ]] && continue
                key="$model/$batch/$p"
                if over_budget; then
                    RATES[$key]="skipped"
                    continue
                fi
                rate=$(fusec_rate "$model" "$batch" "$p" "$steps" "$WORK/data-$batch")
                RATES[$key]=$rate
                log "fusec $key: $rate steps/s"
            done
        done
    done
    log "PyTorch eager reference"
    local torch_status=ok
    timeout "$TORCH_TIMEOUT" python3 scripts/torch_speed.py --device "$TORCH_DEVICE" --models "$(IFS=,; echo "${MODELS[*]}")" \
        --batches "$(IFS=,; echo "${BATCHES[*]}")" --precisions f32,bf16 --steps "$TORCH_STEPS" \
        --warmup "$TORCH_WARMUP" --json "$OUT/torch.json" >>"$OUT/speed.txt" 2>&1 || torch_status="failed ($?)"
    log "torch: $torch_status"
    for model in "${MODELS[@]}"; do
        for batch in "${BATCHES[@]}"; do
            SPEED_ROWS+=$(python3 - "$OUT/torch.json" "$model" "$batch" "${RATES[$model/$batch/f32]:--}" \
                "${RATES[$model/$batch/bf16]:--}" <<'EOF'
import json, sys
path, model, batch, f32, bf16 = sys.argv[1:]
try:
    torch = json.load(open(path))["steps_per_s"]
except Exception:
    torch = {}
def num(x):
    try:
        return float(x)
    except ValueError:
        return None
def cell(x):
    return f"{x:.2f}" if x is not None else "-"
def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"
tf, tb = torch.get(f"{model}/{batch}/f32"), torch.get(f"{model}/{batch}/bf16")
ff, fb = num(f32), num(bf16)
print(f"| {model} | {batch} | {cell(ff)} | {cell(tf)} | {ratio(ff, tf)} | {cell(fb)} | {cell(tb)} | "
      f"{ratio(fb, tb)} | {ratio(fb, ff)} |")
EOF
)$'\n'
        done
    done
}

report() {
    {
        echo "# GPU check ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
        echo
        echo "Device: \`$DEVICE\`. $GPU_LINE"
        echo "Binaries: $(head -n1 "$STAGE/manifest.txt" 2>/dev/null || echo 'unknown')"
        echo
        echo "## Parity tests (FUSEC_TEST_DEVICE=$DEVICE)"
        echo
        echo "$PARITY_LINE"
        echo
        echo "## One epoch of every paper example (--device $DEVICE)"
        echo
        echo "| example | status | train s | test |"
        echo "| --- | --- | --- | --- |"
        printf '%s' "$EXAMPLE_ROWS"
        echo
        echo "## Training steps/s, fusec vs PyTorch eager, same device"
        echo
        echo "Synthetic MulT-layout IEMOCAP data; fusec: \`fusec run\` of examples/iemocap/MODEL.fuse, 2 x $STEPS"
        echo "steps timed as the difference of a 3-epoch and a 1-epoch run; PyTorch: scripts/torch_speed.py, median"
        echo "of 3 x $TORCH_STEPS steps after $TORCH_WARMUP warm-up steps. bf16 = bf16 compute, f32 master weights."
        echo
        echo "| model | batch | fusec f32 | torch f32 | fusec/torch | fusec bf16 | torch bf16 | fusec/torch | fusec bf16/f32 |"
        echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        printf '%s' "$SPEED_ROWS"
        echo
        echo "Total $SECONDS s."
    } >"$OUT/gpu-check.md"
    cat "$OUT/gpu-check.md"
}

run() {
    DRY_RUN=false
    [[ "${1:-}" == "--dry-run" ]] && DRY_RUN=true
    OUT=${OUT:-$PWD/gpu-check-out}
    mkdir -p "$OUT"
    : >"$OUT/log.txt"
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    BUDGET=${GPU_CHECK_BUDGET:-450}
    MODELS=(concat autofusion ganfusion tfn lmf mult)
    BF16_MODELS=(tfn mult)
    PARITY_LINE="not run" EXAMPLE_ROWS="" SPEED_ROWS="" GPU_LINE=""
    [[ -f "$STAGE/bins.tar.xz" ]] || { log "no staged binaries in $STAGE: run 'pack' first"; exit 1; }
    # python3's tarfile, in case the machine has no xz.
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$STAGE/bins.tar.xz" "$WORK/bin"
    FUSEC=$WORK/bin/fusec TESTS=$WORK/bin/it
    if $DRY_RUN; then
        # Here: the CPU, the stub driver library for the loader, tiny sizes; PyTorch wherever python3 finds it.
        DEVICE=cpu TORCH_DEVICE=cpu BATCHES=(4) STEPS=2 TORCH_STEPS=2 TORCH_WARMUP=1 TORCH_TIMEOUT=600
        export LD_LIBRARY_PATH="$PWD/.cuda/py/nvidia/cu13/lib:$PWD/.cuda/py/nvidia/cu13/lib/stubs"
        GPU_LINE="Dry run on the CPU (no GPU): checks the script, not the GPU."
    else
        DEVICE=cuda TORCH_DEVICE=cuda BATCHES=(32 100) STEPS=${GPU_CHECK_STEPS:-40} TORCH_STEPS=40 TORCH_WARMUP=10
        TORCH_TIMEOUT=240
        GPU_LINE=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n1)
        log "GPU: $GPU_LINE"
        find_cuda_libs || { report; exit 1; }
    fi
    parity
    examples
    speed
    report
}

case "${1:-}" in
    pack) pack ;;
    run) shift; run "$@" ;;
    *) echo "usage: scripts/gpu-check.sh pack | run [--dry-run]" >&2; exit 2 ;;
esac
