#!/usr/bin/env bash
# The GPU measurements the one-shot and hardware-aware features still lack, in one short run on a
# machine with a CUDA device. Every step has its own time limit and the whole run a deadline
# (GPU_CHECKS_BUDGET seconds, default 540, under a device run's 10 minutes); a failing step is
# logged and the next one runs, so one run returns every figure it can; a step gets its limit or
# what is left of the budget. Not yet timed on a GPU (a few minutes expected on an H100/H200).
#   1. one first-order DARTS iteration at the paper's search settings (C=16, 8 cells, batch 64):
#      iterations per second and peak GPU memory against the original computation, bf16 autocast
#      (channels-last and NCHW) and fp32; then nascli with and without lean stages through
#      torch.compile (graphs and graph breaks counted);
#   2. `nas search strategy=darts trainer=gpu` on digits, wall clock;
#   3. `nas hw profile hardware=gpu` for the mobilenet space, then `nas hw validate` (its error).
#
#   bash scripts/gpu_checks.sh [OUT_DIR]       # OUT_DIR: $OUT, else outputs/gpu-checks
#
# Where the machine's Python has torch and Lightning but not Hydra (the lent GPU machines), run
# `bash scripts/gpu_checks.sh --wheels` first where pip can download: it builds the missing
# pure-Python wheels at the locked versions into .whl/ (git-ignored through .git/info/exclude, so
# a device run must carry .whl); the checks install them with pip --target when .whl/ exists.
# OUT_DIR gets four files (a device run returns at most 8): gpu_checks.log (every step's output),
# latency-gpu.json (the table), darts_summary.json and hw_validate_summary.json; the run
# directories themselves go to a fresh temporary folder.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [[ "${1:-}" == "--wheels" ]]; then
    pins=$(grep -iE '^(hydra-core|omegaconf|antlr4-python3-runtime)==' requirements.lock)
    exclude=$(git rev-parse --git-path info/exclude)
    mkdir -p "$(dirname "$exclude")"
    grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >>"$exclude"
    # shellcheck disable=SC2086  # one argument per pin
    exec "$PY" -m pip wheel --no-deps -q -w .whl $pins
fi

out=${1:-${OUT:-outputs/gpu-checks}}
runs=$(mktemp -d /tmp/nascli-gpu-runs.XXXXXX)
mkdir -p "$out"
log=$out/gpu_checks.log
: >"$log"
deadline=$((SECONDS + ${GPU_CHECKS_BUDGET:-540}))
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$runs/site" .whl/*.whl >>"$log" 2>&1
    export PYTHONPATH=$runs/site:$PWD/src
else
    export PYTHONPATH=$PWD/src
fi
export PYTHONUNBUFFERED=1

step() { # step NAME SECONDS COMMAND...: run it under its limit (or what is left), log it all
    local name=$1 limit=$2 left=$((deadline - SECONDS)) start rc
    shift 2
    ((left < limit)) && limit=$left
    if ((limit < 10)); then
        echo "=== $name: skipped, the run's deadline is near" | tee -a "$log"
        return
    fi
    echo "=== $name (limit ${limit} s): $*" | tee -a "$log"
    start=$SECONDS
    timeout "$limit" "$@" >>"$log" 2>&1
    rc=$?
    echo "=== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$log"
}

step machine 30 bash -c 'nvidia-smi -L; '"$PY"' -c "import torch, pytorch_lightning as pl;
print(\"torch\", torch.__version__, \"lightning\", pl.__version__, \"cuda\", torch.cuda.is_available(),
torch.cuda.get_device_name() if torch.cuda.is_available() else \"\")"'
bench=(scripts/bench_supernet.py --device cuda --settings 16,8,64 --repeats 20)
step bench-bf16 90 "$PY" "${bench[@]}" --precision bf16 --variants reference nascli nascli-nchw
step bench-fp32 60 "$PY" "${bench[@]}" --precision fp32 --variants reference nascli
step darts-digits-gpu 100 "$PY" -m nascli search strategy=darts trainer=gpu logger=none \
    "hydra.run.dir=$runs/darts-digits"
cp "$runs/darts-digits/summary.json" "$out/darts_summary.json" 2>/dev/null
step hw-profile-gpu 80 "$PY" -m nascli hw profile space=mobilenet hardware=gpu \
    hw.passes=3 "hw.file=$out/latency-gpu.json" "hydra.run.dir=$runs/hw-profile"
step hw-validate-gpu 60 "$PY" -m nascli hw validate space=mobilenet hardware=gpu \
    hw.passes=3 "hw.file=$out/latency-gpu.json" hw.samples=20 "hydra.run.dir=$runs/hw-validate"
cp "$runs/hw-validate/summary.json" "$out/hw_validate_summary.json" 2>/dev/null
# Last, as the least certain: compilation may take most of what is left.
step bench-bf16-compile 200 "$PY" "${bench[@]}" --precision bf16 --variants nascli nascli-plain \
    --compile
echo "log: $log (total $SECONDS s)" | tee -a "$log"
