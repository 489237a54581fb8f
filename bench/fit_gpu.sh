#!/usr/bin/env bash
# Fitting on the GPU: PSNR-versus-time curves for flower_1280x720 and street_1920x1080 (32 frames,
# a 60 s fitting budget each), printed and logged to $OUT/fit-*.log.
#
#   bench/fit_gpu.sh                          # both clips, preset medium, 60 s
#   FIT_SECONDS=30 FIT_PRESET=fast bench/fit_gpu.sh --set frames_per_step=4   # extra args go to fit_bench.py
#
# Runs from the repository root on a machine with a CUDA GPU. Installs the wheels in .whl/ into a
# scratch folder unless gsplat already imports; the clips are read from $DATA (default .data).
# gsplat's CUDA extension is built on first use and is not counted in the fitting time.

set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-out/fit-gpu}
DATA=${DATA:-.data}
FIT_SECONDS=${FIT_SECONDS:-60}
FIT_PRESET=${FIT_PRESET:-medium}
CLIPS=${CLIPS:-"flower_1280x720.264 street_1920x1080.264"}
mkdir -p "$OUT"

export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
export MAX_JOBS=${MAX_JOBS:-16}
export TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-/tmp/gscodec-gpu/torch_extensions}
export PYTHONUNBUFFERED=1

if ! python3 -c 'import gsplat, av' 2>/dev/null; then
    site=$(mktemp -d)
    python3 -m pip install -q --no-index --no-deps --target "$site" .whl/*.whl || exit 1
    export PYTHONPATH="$site:$PWD"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

status=0
for clip in $CLIPS; do
    name=${clip%%.*}
    python3 bench/fit_bench.py "$DATA/$clip" --frames 32 --device cuda --seconds "$FIT_SECONDS" \
        --preset "$FIT_PRESET" --label "$name" "$@" 2>&1 | tee "$OUT/fit-$name.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
echo
grep -h '^RESULT' "$OUT"/fit-*.log
exit "$status"
