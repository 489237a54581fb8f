"""The long fuzzing campaign: about a million executions over every decoder target, with its figures.

Runs gscodec.fuzz's engine on each target in turn (in a worker process by default, so an
interpreter crash or a runaway allocation is caught and reported instead of ending the run),
then prints, per target: executions, seconds, executions per second, distinct outcomes, the
outcome kinds, findings, corpus size and the worker's peak memory; then the line coverage of
gscodec reached by the seeds alone and by the final corpora; then (with --claims) the cost of
each hostile input of gscodec.fuzz.claims, each run in a fresh interpreter.

Findings are written to --findings (input .bin and outcome .txt), minimized with --minimize.
The exit status is 1 when there is any finding.

Usage:
  python bench/fuzz_campaign.py                      # 1,000,000 executions, seed 1
  python bench/fuzz_campaign.py --execs 20000 --quick
  python bench/fuzz_campaign.py --targets builtin,profile0,profile1 --execs 200000 --in-process
  python bench/fuzz_campaign.py --claims-only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from gscodec.fuzz import Campaign, CampaignConfig, InProcess, WorkerPool, minimize, seeds_by_kind
from gscodec.fuzz.claims import CLAIMS
from gscodec.fuzz.engine import LineTracer, TargetReport, executable_lines
from gscodec.fuzz.outcome import KINDS
from gscodec.fuzz.targets import TARGETS

#: Share of the execution budget per target, chosen so each gets time in proportion to its depth
#: (the container parser is cheap; geometry and whole-stream decodes reach the range coder).
SHARES: dict[str, float] = {
    "container": 0.34,
    "gsinfo": 0.07,
    "seek": 0.04,
    "stream": 0.15,
    "profile0": 0.10,
    "profile1": 0.12,
    "builtin": 0.08,
    "raw": 0.03,
    "gpcc": 0.02,
    "gsdec": 0.03,
}
#: Real gsdec subprocesses (about 3 s each: a new interpreter and torch).
PROCESS_RUNS = 40
#: At most this many corpus entries per target are replayed under the line tracer.
REPLAY_LIMIT = 400
#: The decoder-side functions whose line coverage is reported, by group: file -> qualified-name
#: prefixes (these modules also hold encoders, which no decoder input reaches).
COVERAGE_GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "container (bitstream/)": {
        "bitstream/chunks.py": ("ChunkReader", "Chunk", "is_critical", "valid_type", "chunk_crc"),
        "bitstream/container.py": ("SequenceHeader.decode", "Segment.decode", "decode_metadata", "GsvReader",
                                   "decode_index", "read_index", "read_segment_at"),
        "bitstream/profile0.py": ("decode_segment", "DecodedSegment", "peek_segment"),
    },
    "profile 1 decoding": {
        "bitstream/profile1.py": ("decode_segment", "DecodedSegment", "peek_segment", "layout", "PriorNet.from_bytes",
                                  "PriorNet.evaluate", "position_features", "channel_features", "step_of"),
        "entropy/coder.py": ("decode_residuals", "_check_index", "_groups", "_models"),
    },
    "geometry decoders": {
        "geometry/__init__.py": ("codec_id", "_check_options", "declared_points", "decode_points"),
        "geometry/octree.py": ("decode_octree", "_code_tree", "_code_direct", "_code_occupancy", "_slot_contexts",
                               "_child_neighbours", "_level_slots", "_code_multiplicity", "_canonical_keys",
                               "_from_keys"),
        "geometry/_adaptive.py": ("BitDecoder", "ContextModel", "chunk_bounds", "kt_weight", "_halve"),
        "geometry/raw.py": ("decode_raw",),
        "geometry/gpcc.py": ("decode_gpcc",),
    },
    "decode + gsdec + gsinfo": {
        "decode.py": ("open_input", "decode_segment_state", "render_segment", "_out_of_memory", "decode_frames"),
        "cli/gsdec.py": ("decode", "state_parts", "digest_frames"),
        "cli/common.py": ("run_command", "resolve_device", "parse_frame_range"),
        "cli/gsinfo.py": ("describe", "render_table"),
    },
}
PACKAGE = Path(__file__).resolve().parents[1] / "gscodec"


def budgets(total: int, names: list[str]) -> dict[str, int]:
    """Executions per target: the shares of ``total``, renormalized over the targets chosen."""
    shares = {n: SHARES.get(n, 0.02) for n in names if n != "gsdec-process"}
    scale = sum(shares.values()) or 1.0
    out = {n: max(1, round(total * s / scale)) for n, s in shares.items()}
    if "gsdec-process" in names:
        out["gsdec-process"] = PROCESS_RUNS
    return out


def coverage(corpora: dict[str, list[bytes]]) -> tuple[set[tuple[str, int]], dict[str, set[tuple[str, int]]]]:
    """Lines of gscodec each target's inputs reach, replayed in this process under the tracer."""
    per_target = {}
    for name, inputs in corpora.items():
        target = TARGETS[name]
        if target.process or not inputs:
            continue
        InProcess(timeout=60.0).run(target, inputs[:1])  # imports happen outside the tracer
        tracer = LineTracer()
        for data in inputs[:REPLAY_LIMIT]:
            with tracer:
                try:
                    target.run(data)
                except Exception:  # noqa: BLE001 - outcomes were judged during the campaign
                    pass
        per_target[name] = tracer.lines
    union = set().union(*per_target.values()) if per_target else set()
    return union, per_target


def coverage_table(seed_lines: set[tuple[str, int]], lines: set[tuple[str, int]]) -> list[str]:
    """Rows 'group: seeds x% -> corpus y% (covered/executable)'."""
    rows = []
    for group, functions in COVERAGE_GROUPS.items():
        paths = [str(PACKAGE / f) for f in functions]
        exe = executable_lines(paths, {str(PACKAGE / f): names for f, names in functions.items()})
        total = sum(len(v) for v in exe.values())
        hit = sum(len({ln for f, ln in lines if f == p} & exe.get(p, set())) for p in paths)
        base = sum(len({ln for f, ln in seed_lines if f == p} & exe.get(p, set())) for p in paths)
        rows.append(f"  {group:26s} seeds {100 * base / total:5.1f}%  ->  corpus {100 * hit / total:5.1f}%  "
                    f"({hit}/{total} lines)")
    return rows


def run_claims() -> list[dict]:
    """Each hostile input of gscodec.fuzz.claims in a fresh interpreter: outcome, seconds, memory."""
    rows = []
    for name in CLAIMS:
        proc = subprocess.run([sys.executable, "-m", "gscodec.fuzz.claims", name], capture_output=True, text=True,
                              timeout=1200, check=False)
        try:
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        except (IndexError, json.JSONDecodeError):
            rows.append({"claim": name, "outcome": f"exit {proc.returncode}", "result": proc.stderr.strip()[-200:]})
    return rows


def print_report(reports: list[TargetReport], wall: float) -> None:
    head = (f"{'target':10s} {'execs':>9s} {'seconds':>8s} {'exec/s':>8s} {'outcomes':>8s} {'ok':>8s} "
            f"{'errors':>8s} {'findings':>8s} {'corpus':>6s} {'peak MB':>8s} {'slowest s':>9s}")
    print(head)
    print("-" * len(head))
    total = Counter()
    for r in reports:
        bad = sum(v for k, v in r.kinds.items() if k not in ("ok", "error"))
        print(f"{r.target:10s} {r.execs:9d} {r.seconds:8.1f} {r.exec_per_s:8.1f} {len(r.signatures):8d} "
              f"{r.kinds['ok']:8d} {r.kinds['error']:8d} {bad:8d} {r.corpus:6d} {r.peak_rss / 2**20:8.0f} "
              f"{r.slowest:9.3f}")
        total["execs"] += r.execs
        total["outcomes"] += len(r.signatures)
        total["bad"] += bad
        total["seconds"] += r.seconds
    print("-" * len(head))
    print(f"{'total':10s} {total['execs']:9d} {total['seconds']:8.1f} {total['execs'] / max(wall, 1e-9):8.1f} "
          f"{total['outcomes']:8d} {'':8s} {'':8s} {total['bad']:8d}   (wall {wall:.0f} s)")
    kinds = Counter()
    for r in reports:
        kinds.update(r.kinds)
    print("outcome kinds: " + ", ".join(f"{k} {kinds[k]}" for k in KINDS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--execs", type=int, default=1_000_000, help="total executions over all targets")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--targets", default=",".join([*SHARES, "gsdec-process"]),
                        help="comma-separated target names (see gscodec.fuzz.targets.TARGETS)")
    parser.add_argument("--in-process", action="store_true", help="run inputs in this process (no isolation)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-input watchdog, seconds")
    parser.add_argument("--trace-every", type=int, default=50, help="coverage-guide one execution in N (0: off)")
    parser.add_argument("--findings", type=Path, default=Path("out/fuzz/findings"))
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument("--minimize", action="store_true", help="shrink each finding before saving it")
    parser.add_argument("--claims", action="store_true", help="also measure the hostile inputs of fuzz.claims")
    parser.add_argument("--claims-only", action="store_true")
    parser.add_argument("--no-coverage", action="store_true")
    parser.add_argument("--quick", action="store_true", help="without the conformance seeds (synthetic only)")
    args = parser.parse_args()

    claims = run_claims() if args.claims or args.claims_only else []
    if args.claims_only:
        print(json.dumps(claims, indent=1))
        return 0
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    plan = budgets(args.execs, names)
    seeds = seeds_by_kind(include_conformance=not args.quick)
    print(f"fuzz campaign: seed {args.seed}, {sum(plan.values())} executions, "
          f"{'in-process' if args.in_process else 'worker process'}, watchdog {args.timeout:g} s, "
          f"tracing 1 in {args.trace_every or 'never'}; seeds: "
          + ", ".join(f"{k} {len(v)}" for k, v in seeds.items()), flush=True)

    def progress(r: TargetReport) -> None:
        print(f"  .. {r.target}: {r.execs} execs, {r.exec_per_s:.0f}/s, {len(r.signatures)} outcomes, "
              f"{len(r.findings)} findings, corpus {r.corpus}", flush=True)

    reports: list[TargetReport] = []
    corpora: dict[str, list[bytes]] = {}
    saved: list[str] = []
    t0 = time.perf_counter()
    for name in names:
        executor = InProcess(args.timeout) if args.in_process else WorkerPool(args.timeout)
        try:
            campaign = Campaign(executor, seeds, progress, progress_every=30.0)
            config = CampaignConfig(execs=plan[name], seed=args.seed, trace_every=args.trace_every)
            report, corpus = campaign.run(name, config)
            for sig, finding in report.findings.items():
                if args.minimize:
                    finding.data = minimize(executor, name, finding.data, sig)
                saved.append(f"{finding.save(args.findings)}  ({finding.count}x) {sig[:150]}")
        finally:
            executor.close()
        restarts = getattr(executor, "restarts", 0)
        print(f"  == {name}: {report.execs} execs in {report.seconds:.1f} s ({report.exec_per_s:.0f}/s), "
              f"{len(report.signatures)} outcomes, {len(report.findings)} findings"
              + (f", worker restarted {restarts}x" if restarts else ""), flush=True)
        reports.append(report)
        corpora[name] = corpus
    wall = time.perf_counter() - t0
    print()
    print_report(reports, wall)
    if saved:
        print("\nfindings (input and outcome saved):")
        for line in saved:
            print("  " + line)
    else:
        print("\nfindings: none")
    cov_rows: list[str] = []
    if not args.no_coverage:
        seed_corpora = {n: seeds.get(TARGETS[n].kind, []) for n in corpora}
        seed_lines, _ = coverage(seed_corpora)
        lines, _ = coverage(corpora)
        cov_rows = coverage_table(seed_lines, lines)
        print("\nline coverage of gscodec (sys.settrace; corpora replayed, at most "
              f"{REPLAY_LIMIT} inputs per target):")
        print("\n".join(cov_rows))
    if claims:
        print("\nhostile inputs (each in a fresh interpreter):")
        for c in claims:
            rate = f", {c['seconds_per_unit'] * 1e9:.0f} ns per unit of work" if c.get("seconds_per_unit") else ""
            print(f"  {c['claim']:18s} {c.get('bytes', '?'):>7} B  {c['outcome']:6s} {c.get('seconds', 0):8.3f} s  "
                  f"+{c.get('peak_growth_mb', 0):7.1f} MB{rate}  {c.get('result', '')[:90]}")
    print(f"\npeak RSS of this process: {resource_peak_mb():.0f} MB")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "seed": args.seed, "wall_seconds": round(wall, 1), "targets": [r.as_json() for r in reports],
            "coverage": cov_rows, "claims": claims, "findings": saved,
        }, indent=1), encoding="utf-8")
    return 1 if saved else 0


def resource_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
