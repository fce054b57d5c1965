#!/usr/bin/env bash
# The GPU measurements the one-shot and hardware-aware features still lack, in one short run on a
# machine with a CUDA device (about 5 minutes on an H100/H200; every step has its own time limit,
# and a failing step is logged and skipped, so one run returns every figure it can):
#   1. one first-order DARTS iteration at the paper's search settings (C=16, 8 cells, batch 64):
#      iterations per second and peak GPU memory, bf16 autocast and fp32, channels-last and NCHW,
#      against the original computation; then the same through torch.compile;
#   2. `nas search strategy=darts trainer=gpu` on digits, wall clock;
#   3. `nas hw profile hardware=gpu` for the mobilenet space, then `nas hw validate` (its error).
#
#   bash scripts/gpu_checks.sh [OUT_DIR]       # OUT_DIR: $OUT, else outputs/gpu-checks
#
# Where the machine's Python has torch and Lightning but not Hydra (the lent GPU machines), run
# `bash scripts/gpu_checks.sh --wheels` here first: it builds the missing pure-Python wheels at
# the locked versions into .whl/ (git-ignored through .git/info/exclude); the checks install them
# with pip --target when .whl/ exists (a device run must carry .whl, being ignored). OUT_DIR gets four files (a device run returns at most 8):
# gpu_checks.log (every step's output), latency-gpu.json (the table), darts_summary.json and
# hw_validate_summary.json; the run directories themselves stay in /tmp/nascli-gpu-runs.
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--wheels" ]]; then
    pins=$(grep -iE '^(hydra-core|omegaconf|antlr4-python3-runtime)==' requirements.lock)
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
    # shellcheck disable=SC2086  # one argument per pin
    exec python3 -m pip wheel --no-deps -q -w .whl $pins
fi

out=${1:-${OUT:-outputs/gpu-checks}}
runs=/tmp/nascli-gpu-runs
mkdir -p "$out" "$runs"
log=$out/gpu_checks.log
: >"$log"
PY=${PYTHON:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/nascli-site .whl/*.whl >>"$log" 2>&1
    export PYTHONPATH=/tmp/nascli-site:$PWD/src
else
    export PYTHONPATH=$PWD/src
fi
export PYTHONUNBUFFERED=1

step() { # step NAME SECONDS COMMAND...: run it under a time limit, log its output and its status
    local name=$1 limit=$2 start rc
    shift 2
    echo "=== $name (limit ${limit} s): $*" | tee -a "$log"
    start=$(date +%s)
    timeout "$limit" "$@" >>"$log" 2>&1
    rc=$?
    echo "=== $name: exit $rc after $(($(date +%s) - start)) s" | tee -a "$log"
}

step machine 30 bash -c 'nvidia-smi -L; '"$PY"' -c "import torch, pytorch_lightning as pl;
print(\"torch\", torch.__version__, \"lightning\", pl.__version__, \"cuda\", torch.cuda.is_available(),
torch.cuda.get_device_name() if torch.cuda.is_available() else \"\")"'
bench=(scripts/bench_supernet.py --device cuda --settings 16,8,64 --repeats 20)
step bench-bf16 150 "$PY" "${bench[@]}" --precision bf16 --variants reference nascli nascli-nchw
step bench-fp32 120 "$PY" "${bench[@]}" --precision fp32 --variants reference nascli
step bench-bf16-compile 150 "$PY" "${bench[@]}" --precision bf16 --variants nascli --compile
step darts-digits-gpu 150 "$PY" -m nascli search strategy=darts trainer=gpu logger=none \
    "hydra.run.dir=$runs/darts-digits"
step hw-profile-gpu 120 "$PY" -m nascli hw profile space=mobilenet hardware=gpu \
    "hw.file=$out/latency-gpu.json" "hydra.run.dir=$runs/hw-profile"
step hw-validate-gpu 90 "$PY" -m nascli hw validate space=mobilenet hardware=gpu \
    "hw.file=$out/latency-gpu.json" hw.samples=20 "hydra.run.dir=$runs/hw-validate"
cp "$runs/darts-digits/summary.json" "$out/darts_summary.json" 2>/dev/null
cp "$runs/hw-validate/summary.json" "$out/hw_validate_summary.json" 2>/dev/null
echo "log: $log" | tee -a "$log"
