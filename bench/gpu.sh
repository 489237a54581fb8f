#!/usr/bin/env bash
# GPU check and benchmark in one call: install the wheels in .whl/, build gsplat's CUDA extension
# once, run the `cuda` tests and the benchmarks, print a short table last.
#
#   bench/gpu.sh                                      # every step
#   STEPS="install compile render_tests" bench/gpu.sh # some steps
#   STEPS="install compile ablate" ABLATE_JOBS=jobs.txt bench/gpu.sh  # rd_ablation runs side by side
#   STEPS="install compile codec profile" bench/gpu.sh                 # where encode and decode time goes
#
# Runs from the repository root on a machine with a CUDA GPU, python3, nvcc and ninja, and no
# network: .whl/ holds the wheels the machine lacks; torch is the machine's. On the GPU machine's image
# seen so far (torch 2.11, opencv, matplotlib, pytest, rich and click present) that is gsplat,
# constriction and av, about 43 MB:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl gsplat==1.5.3 constriction av
# The clips are read from $DATA (default .data/, a copy of the test clips; carry it too).
#
# Each step's output goes to logs/<step>.log and is echoed; the step table is in
# $OUT/summary.tsv and the numbers worth keeping in $OUT/summary.txt. Everything else a step
# writes (logs, RD tables and plots, streams) lies under $RESULTS and is packed into
# $OUT/results.tar after every step, so a call cut short still returns what finished, in few files.
#
# Adding a step: write a function step_<name> (stdout is logged; return non-zero on failure;
# append result lines to "$SUMMARY_TXT"), and add <name> to the default STEPS.

set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-out/gpu}
SCRATCH=${SCRATCH:-/tmp/gscodec-gpu}
RESULTS=${RESULTS:-$SCRATCH/results}  # emptied at the start: two runs at once need one each
LOGS="$RESULTS/logs"
STEPS=${STEPS:-"install compile render_tests render_bench conformance fit codec rd"}
RD_ARGS=${RD_ARGS:-}
FIT_SECONDS=${FIT_SECONDS:-60}
DATA=${DATA:-.data}
SUMMARY_TSV="$OUT/summary.tsv"
SUMMARY_TXT="$OUT/summary.txt"
mkdir -p "$OUT" "$SCRATCH"
rm -rf "$RESULTS" && mkdir -p "$LOGS"
: >"$SUMMARY_TSV"
: >"$SUMMARY_TXT"

export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
export MAX_JOBS=${MAX_JOBS:-16}
export TORCH_EXTENSIONS_DIR="$SCRATCH/torch_extensions"  # a later call on the same machine reuses the build
export PYTHONUNBUFFERED=1

# ---------------------------------------------------------------- steps

step_install() {
    # The wheels go to a scratch site dir, first on PYTHONPATH. No torch wheel: the machine's is used.
    # A wheel already installed by an earlier call on the same machine is not installed again.
    local site="$SCRATCH/site" w
    mkdir -p "$site"
    for w in .whl/*.whl; do
        [ -f "$w" ] || continue
        [ -f "$site/.done-$(basename "$w")" ] && continue
        python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$site" "$w" || return 1
        touch "$site/.done-$(basename "$w")"
    done
    export PYTHONPATH="$site:$PWD"
    python3 -c 'import torch, gsplat; print("torch", torch.__version__, "cuda", torch.version.cuda,
"gpu", torch.cuda.get_device_name(), "gsplat", gsplat.__version__)' | tee -a "$SUMMARY_TXT"
}

step_compile() {
    # gsplat compiles its CUDA code on first use (about 75 s on an H100); later calls load the build.
    python3 -c 'import time; t = time.time(); from gsplat.cuda import _backend
assert _backend._C is not None, "gsplat CUDA extension did not build"
print(f"gsplat extension ready in {time.time() - t:.1f} s")' | tee -a "$SUMMARY_TXT"
    return "${PIPESTATUS[0]}"
}

step_render_tests() {
    # -s shows the measured cuda-vs-cpu differences that the tests print.
    python3 -m pytest -q -s -m cuda -p no:cacheprovider tests/test_render.py 2>&1 | tee "$SCRATCH/render_tests.out"
    local rc=${PIPESTATUS[0]}
    grep -E "^cuda vs cpu" "$SCRATCH/render_tests.out" >>"$SUMMARY_TXT"
    tail -n 1 "$SCRATCH/render_tests.out" | sed 's/^/render tests: /' >>"$SUMMARY_TXT"
    return "$rc"
}

step_render_bench() {
    python3 bench/render_bench.py --device cuda --json "$RESULTS/render_bench.json" 2>&1 | tee "$SCRATCH/render_bench.out"
    local rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] && cat "$SCRATCH/render_bench.out" >>"$SUMMARY_TXT"
    return "$rc"
}

step_conformance() {
    # gsplat's frames against the committed CPU reference frames, within the spec's tolerance (§15).
    python3 -m conformance --device cuda 2>&1 | tee "$SCRATCH/conformance.out"
    local rc=${PIPESTATUS[0]}
    tail -n 2 "$SCRATCH/conformance.out" | sed 's/^/conformance (cuda): /' >>"$SUMMARY_TXT"
    return "$rc"
}

step_fit() {
    # PSNR-versus-time curves: 32 frames of flower (720p) and street (1080p), a fixed fitting budget.
    local rc=0 clip name
    for clip in flower_1280x720.264 street_1920x1080.264; do
        name=${clip%%.*}
        python3 bench/fit_bench.py "$DATA/$clip" --frames 32 --device cuda --seconds "$FIT_SECONDS" \
            --preset medium --label "$name" 2>&1 | tee "$RESULTS/fit-$name.log"
        [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
        grep -h '^RESULT' "$RESULTS/fit-$name.log" >>"$SUMMARY_TXT"
    done
    return "$rc"
}

step_codec() {
    # The user's commands end to end on the GPU: gsenc (default preset) on the first 32 frames of
    # flower, gsinfo, then gsdec to y4m on /dev/null (end-to-end decode rate) and to a PNG folder
    # (PSNR against the source). Also writes a GPU-encoded stream for the conformance check on CPU.
    local clip="$DATA/flower_1280x720.264"
    [ -f "$clip" ] || { echo "no $clip (carry .data)"; return 1; }
    local gsv="$RESULTS/flower32.gsv"
    /usr/bin/time -v python3 -m gscodec.cli.gsenc "$clip" -o "$gsv" --frames 32 --device cuda -q 2>"$SCRATCH/gsenc.time" || { cat "$SCRATCH/gsenc.time"; return 1; }
    local enc_s; enc_s=$(grep "Elapsed (wall" "$SCRATCH/gsenc.time" | awk '{print $NF}')
    python3 -m gscodec.cli.gsinfo "$gsv"
    local t0 t1; t0=$(now_ms)
    python3 -m gscodec.cli.gsdec "$gsv" -o - --device cuda -q >/dev/null || return 1
    t1=$(now_ms)
    python3 -m gscodec.cli.gsdec "$gsv" -o "$SCRATCH/flower_dec" --device cuda -q || return 1
    python3 - "$clip" "$SCRATCH/flower_dec" "$gsv" <<'PY' | tee -a "$SUMMARY_TXT"
import sys
from pathlib import Path
import numpy as np
from gscodec.metrics import psnr_rgb
from gscodec.video import open_video
src, dec, gsv = sys.argv[1:4]
with open_video(src, frames=32) as a, open_video(dec) as b:
    w, h = a.info.width, a.info.height
    p = [psnr_rgb(x, y) for x, y in zip(a, b, strict=True)]
bpp = Path(gsv).stat().st_size * 8 / (w * h * len(p))
print(f"codec flower 32f (gsenc default preset, cuda): {np.mean(p):.2f} dB, {bpp:.4f} bpp, {Path(gsv).stat().st_size} bytes")
PY
    # Where the decoder's time goes, stage by stage, in a warm process (and the start-up apart).
    python3 bench/decode_bench.py "$gsv" --device cuda --repeats 5 | tee -a "$SUMMARY_TXT"
    echo "codec flower 32f: gsenc wall $enc_s; gsdec -o - (y4m to /dev/null) $(( (t1 - t0) ))ms for 32 frames = $(python3 -c "print(f'{32000/max(1,$t1-$t0):.1f}')") fps end to end incl. start-up" | tee -a "$SUMMARY_TXT"
    # A small stream encoded on this GPU, with its decoded-state hashes computed here: the CPU
    # test suite decodes it and must find the same hashes (tests/test_cross_device.py).
    local small="$RESULTS/gpu-encoded-carphone-8f.gsv"
    python3 -m gscodec.cli.gsenc "$DATA/carphone_qcif.mp4" -o "$small" --frames 8 --segment-frames 4 \
        --gaussians 1500 --preset fast --device cuda -q || return 1
    python3 - "$small" <<'PY' | tee "$RESULTS/gpu-encoded-carphone-8f.json"
import json, sys, torch
from gscodec.bitstream import GsvReader
from gscodec.decode import decode_segment_state
with open(sys.argv[1], "rb") as f:
    r = GsvReader(f)
    states = [decode_segment_state(r.header, s).state_hash() for s in r.segments()]
print(json.dumps({"origin": f"gsenc --device cuda on {torch.cuda.get_device_name()}", "segment_sha256": states}))
PY
}

step_rd() {
    # Rate-distortion curves through the bench harness (the same gsenc/gsdec commands users run):
    # gscodec profile 1 at RD_LAMBDAS and x264/x265 preset medium on the first 32 frames of each clip
    # (RD_CLIPS: by default every test clip, the quickest first, so a call cut short keeps the most).
    # On an H100 (2026-12-06) carphone and bikes took 356 s together, parking and flower 425 s, and
    # street alone 332 s (2026-12-05); flower and bikes 296 s on a fresh machine, anchors included
    # (commit f7b2795): at most two clips per call of 10 minutes.
    # One timed run per point (no warm-up) to keep the run short. RD_JOBS gscodec points run at once
    # (--jobs; default 4, the x264/x265 points beside them): one gsenc leaves most of an H100 idle, so
    # a clip's curve takes a fraction of the time, but its gscodec speeds are then not single-run
    # figures (the `codec` step times gsenc and gsdec alone; RD_JOBS=1 for single runs).
    # One harness run per clip, its reports copied to $RESULTS/rd-<clip>-* as soon as it ends, and the
    # point cache kept in $SCRATCH: a call cut short keeps the clips it finished, and a later call on
    # the same (warm) machine measures only the points still missing. RD_SECONDS bounds the step.
    local c name rc=0 start left
    start=$(date +%s)
    for c in ${RD_CLIPS:-carphone_qcif.mp4 bikes_640x272.mp4 parking_768x432.mp4 flower_1280x720.264 street_1920x1080.264}; do
        name=${c%%.*}
        left=$(( ${RD_SECONDS:-540} - $(date +%s) + start ))
        if [ "$left" -lt 30 ]; then echo "rd: no time left for $name"; rc=1; break; fi
        # shellcheck disable=SC2086
        timeout "$left" python3 -m gscodec.bench "$DATA/$c" -n 32 -c "${RD_CODECS:-libx264,libx265,gscodec}" \
            -l "${RD_LAMBDAS:-0.001,0.004,0.016,0.064}" --repeats 1 --warmup 0 --no-ms-ssim \
            --timeout 600 -o "$SCRATCH/rd-$name" --cache "$SCRATCH/rd-cache" --jobs "${RD_JOBS:-4}" -q $RD_ARGS
        local one=$?
        echo "rd: $name exit $one after $(( $(date +%s) - start )) s"
        [ "$one" -eq 0 ] || rc=1
        for f in results.md results.json results.csv frames.csv; do
            [ -f "$SCRATCH/rd-$name/$f" ] && cp "$SCRATCH/rd-$name/$f" "$RESULTS/rd-$name-$f"
        done
        [ -f "$SCRATCH/rd-$name/plots/$name.png" ] && cp "$SCRATCH/rd-$name/plots/$name.png" "$RESULTS/rd-$name.png"
        [ -f "$SCRATCH/rd-$name/results.md" ] && cat "$SCRATCH/rd-$name/results.md" >>"$SUMMARY_TXT"
    done
    return "$rc"
}
step_ablate() {
    # Several bench/rd_ablation.py runs at once (ABLATE_PAR, default 4: one fit leaves most of an H100
    # idle), from a job list (ABLATE_JOBS, a file; one job per line: NAME CLIP LAMBDA [rd_ablation
    # arguments], '#' starts a comment), each fitted at gsenc's budget for its λ on ABLATE_DEVICE
    # (default cuda). ABLATE_SECONDS (default 540) bounds the step: a job starts only with more
    # than a minute left and is stopped at the deadline (the step then fails, as when a job fails; a job
    # not started for lack of time does not fail it); each job's table and log are kept in
    # $RESULTS/ablate/NAME.{json,log} and its result lines added to the summary. The seconds a job
    # reports are those of processes sharing the machine. Example job list:
    #   base   flower_1280x720.264 0.001
    #   steps2 flower_1280x720.264 0.001 --iterations 1920
    #   mix0   flower_1280x720.264 0.004 --fit-setting detail_mix=0 --variant def --variant g18:geometry_bits=18
    local jobs=${ABLATE_JOBS:-}
    [ -n "$jobs" ] && [ -f "$jobs" ] || { echo "ablate: set ABLATE_JOBS to a job list file"; return 1; }
    mkdir -p "$RESULTS/ablate"
    local deadline=$(( $(date +%s) + ${ABLATE_SECONDS:-540} ))
    export deadline RESULTS DATA
    export ABLATE_DEVICE=${ABLATE_DEVICE:-cuda}
    # shellcheck disable=SC2016
    grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$jobs" | xargs -P "${ABLATE_PAR:-4}" -L 1 bash -c '
        name=$1 clip=$2 lam=$3; shift 3
        left=$(( deadline - $(date +%s) ))
        if [ "$left" -le 60 ]; then echo "ablate: $name not started (no time left)"; exit 0; fi
        echo "ablate: $name started, $left s left"
        timeout "$left" python3 bench/rd_ablation.py "$DATA/$clip" --device "$ABLATE_DEVICE" --lambda-budget \
            --lambda "$lam" --json "$RESULTS/ablate/$name.json" "$@" >"$RESULTS/ablate/$name.log" 2>&1
        rc=$?
        echo "ablate: $name exit $rc"
        [ "$rc" -eq 0 ] || tail -n 3 "$RESULTS/ablate/$name.log"
        exit "$rc"' _
    local rc=$? f  # xargs: non-zero when a job failed or was stopped at the deadline
    for f in "$RESULTS"/ablate/*.log; do
        [ -f "$f" ] || continue
        grep -E '^fit:|^  [^ ].* λ ' "$f" | sed "s|^|ablate $(basename "$f" .log): |" >>"$SUMMARY_TXT"
    done
    return $(( rc != 0 ))
}
step_profile() {
    # Where the encoder's and the decoder's time goes, on this machine: bench/step_profile.py (the fit's
    # and the RD stage's steps, timed, then profiled) on PROFILE_CLIP (default flower, 32 frames), and
    # bench/decode_bench.py on PROFILE_STREAM (default: the codec step's flower stream, when that step
    # ran) with a stream of its segment repeated PROFILE_SEGMENTS times (default 8), decoded one segment
    # after the other, with the prefetch thread and with gsdec's default worker processes. PROFILE_DEVICE
    # (default cuda), PROFILE_ARGS: more arguments for step_profile.py.
    local clip=${PROFILE_CLIP:-$DATA/flower_1280x720.264} dev=${PROFILE_DEVICE:-cuda} rc=0
    local stream=${PROFILE_STREAM:-$RESULTS/flower32.gsv}
    [ -e "$clip" ] || { echo "profile: no $clip (carry .data, or set PROFILE_CLIP)"; return 1; }
    # shellcheck disable=SC2086
    python3 bench/step_profile.py "$clip" --device "$dev" $PROFILE_ARGS 2>&1 | tee "$RESULTS/step_profile.txt"
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
    grep -E '^fit:|^rd:|device busy' "$RESULTS/step_profile.txt" | sed 's/^/profile: /' >>"$SUMMARY_TXT"
    if [ -f "$stream" ]; then
        python3 bench/decode_bench.py "$stream" --device "$dev" --repeats 3 --segments "${PROFILE_SEGMENTS:-8}" \
            2>&1 | tee "$RESULTS/decode_profile.txt"
        [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
        grep -E '^warm decode|segments, ' "$RESULTS/decode_profile.txt" | sed 's/^/profile: /' >>"$SUMMARY_TXT"
    else
        echo "profile: no stream at $stream (run the codec step first, or set PROFILE_STREAM); decode not profiled"
    fi
    return "$rc"
}
# ---------------------------------------------------------------- driver

now_ms() { echo $(($(date +%s%N) / 1000000)); }

status=0
for s in $STEPS; do
    if ! declare -F "step_$s" >/dev/null; then
        echo "unknown step: $s" >&2
        status=2
        continue
    fi
    echo "=== $s"
    t0=$(now_ms)
    # Run in this shell (not a pipe) so that what a step exports (PYTHONPATH) reaches the later ones.
    "step_$s" >"$LOGS/$s.log" 2>&1
    rc=$?
    cat "$LOGS/$s.log"
    dt=$(($(now_ms) - t0))
    printf '%s\t%s\t%d.%01d s\n' "$s" "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED($rc)")" \
        $((dt / 1000)) $((dt % 1000 / 100)) >>"$SUMMARY_TSV"
    tar -cf "$OUT/results.tar.tmp" -C "$RESULTS" . && mv "$OUT/results.tar.tmp" "$OUT/results.tar"
    if [ "$rc" -ne 0 ]; then
        status=1
        case $s in install | compile) break ;; esac  # nothing later can work without them
    fi
done

echo
echo "================ summary ================"
column -t -s $'\t' "$SUMMARY_TSV" 2>/dev/null || cat "$SUMMARY_TSV"
echo
cat "$SUMMARY_TXT"
exit "$status"
