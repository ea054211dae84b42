"""Kill a real ``python -m gaia_audio train`` process with SIGKILL again and again, resuming each time.

Checks what a lab's shared machine does to a days-long run: after every kill, every checkpoint
the run lists must load; resuming from the last one must work; and with a fixed seed the
finished run's per-step losses and final weights must equal those of a run never interrupted.
With ``--truncate-every K`` every K-th kill is followed by damaging the newest checkpoint (cut to
half, or to zero bytes, as a dying copy or a full quota leaves it): the resume must say it skipped
that file and go on from the one before, still ending on the uninterrupted run's weights.

Usage (also driven by tests/test_crash.py):

    python tests/crash_harness.py --work /tmp/crash --kills 12 --steps 60 --truncate-every 3
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

TINY = ["model.width=4", "model.n_res=1", "model.style_dim=8", "model.mlp_dim=8", "model.latent_dim=8",
        "train.batch_size=4", "train.log_every=1", "train.checkpoint_every=1", "train.keep_last=2",
        "train.sample_every=0", "train.threads=1", "train.seed=7", "inversion.n_iter=2", "data.prepare=null"]


def make_dataset(root: Path) -> Path:
    """Twelve synthetic bird-like units and their manifest in ``root``."""
    from tiny_model import write_tiny_dataset

    return write_tiny_dataset(root)


def train_command(data: Path, run: Path, steps: int, resume: bool) -> list[str]:
    """The CLI call: a new run into ``run``, or ``--resume run``."""
    overrides = [*TINY, f"data.root={data}", f"train.steps={steps}"]
    cmd = [sys.executable, "-m", "gaia_audio", "train", "--quiet"]
    cmd += ["--resume", str(run)] if resume else [str(REPO / "recipes" / "zebra_finch.yaml"), "--run-dir", str(run)]
    for item in overrides:
        cmd += ["--set", item]
    return cmd


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def step_records(run: Path) -> dict[int, dict]:
    """The last logged loss record of each step (a step redone after a kill is logged again)."""
    records = {}
    path = run / "metrics.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut off by the kill
                continue
            if "step" in record and "event" not in record:
                records[int(record["step"])] = record
    return records


def check_checkpoints(run: Path, damaged: dict[Path, int] | None = None) -> list[int]:
    """Load every checkpoint the run lists (raises if one is corrupt); return their steps.

    ``damaged`` maps the files this harness damaged on purpose to their inode: those are skipped
    until training has written them anew (a new file, so a new inode).
    """
    from gaia_audio.training import checkpoint as ckpt

    steps = []
    for path in ckpt.list_checkpoints(run):
        if damaged and damaged.get(path) == path.stat().st_ino:
            continue
        state = ckpt.load_checkpoint(path)
        assert int(state["step"]) == int(path.stem.split("_")[1]), f"{path} holds step {state['step']}"
        steps.append(int(state["step"]))
    return steps


def run_to_end(cmd: list[str], timeout: float = 300) -> str:
    """Run a command to completion, raising with its output if it fails; return its stderr."""
    done = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stderr


def damage(path: Path, how: str) -> Path:
    """Cut a checkpoint to half its bytes ("half") or to nothing ("zero"), in place."""
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2] if how == "half" else b"")
    return path


def skipped_checkpoints(stderr: str) -> set[str]:
    """The checkpoint files a resume's notes say it skipped."""
    return {line[len("note: "):].split(": ")[0] for line in stderr.splitlines()
            if line.startswith("note: ") and "skipped, resuming from" in line}


def crash_trials(work: Path, kills: int = 12, steps: int = 60, seed: int = 0, log=print,
                 truncate_every: int = 0) -> dict:
    """Train once straight through and once with ``kills`` SIGKILLs at random moments; compare.

    Kills land at random delays after the process has shown progress (a new metrics line), so
    they hit steps, checkpoint writes and exits alike; a few land during start-up. After every
    ``truncate_every``-th kill (0: never) the newest checkpoint is damaged, alternately cut to half
    and to zero bytes, when an older intact one remains.

    Returns:
        A report: kills done, resumes, newest intact checkpoint step after each kill, the
        checkpoints damaged and those the resumes said they skipped, the largest loss and weight
        differences against the straight run, and stray temporary files left.
    """
    from gaia_audio.models import export
    from gaia_audio.training import checkpoint as ckpt

    rng = random.Random(seed)
    data = make_dataset(work / "data")
    straight, crashed = work / "straight", work / "crashed"
    t0 = time.perf_counter()
    run_to_end(train_command(data, straight, steps, resume=False))
    straight_s = time.perf_counter() - t0
    # Kill delays are drawn in units of this machine's step time (with checkpoint), so each kill
    # advances the run by a step or two whether the machine is quiet or busy, and ten kills
    # land before the run can finish.
    step_s = step_records(straight)[steps]["time"] / steps
    log(f"uninterrupted run: {steps} steps in {straight_s:.1f} s ({step_s * 1000:.0f} ms/step)")

    report = {"kills": 0, "resumes": 0, "checkpoints_after_kill": [], "finished_early": 0, "damaged": [],
              "skipped": set()}
    damaged: dict[Path, int] = {}
    due = False  # a checkpoint is to be damaged as soon as an older intact one can take over
    while report["kills"] < kills:
        resume = bool(ckpt.list_checkpoints(crashed))
        report["resumes"] += resume
        before = len(step_records(crashed))
        proc = subprocess.Popen(train_command(data, crashed, steps, resume), cwd=REPO, env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        during_startup = report["kills"] % 5 == 4  # every fifth kill before training starts
        deadline = time.perf_counter() + 120
        while not during_startup and proc.poll() is None and len(step_records(crashed)) <= before:
            if time.perf_counter() > deadline:
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.5) * step_s if not during_startup else rng.uniform(0.0, 1.5))
        if proc.poll() is not None:  # finished (or failed) before the kill
            err = proc.stderr.read()
            report["skipped"] |= skipped_checkpoints(err)
            if proc.returncode != 0:
                raise RuntimeError(f"training failed after {report['kills']} kills: {err}")
            report["finished_early"] += 1
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        report["skipped"] |= skipped_checkpoints(proc.stderr.read())
        proc.stderr.close()
        report["kills"] += 1
        found = check_checkpoints(crashed, damaged)
        due = due or bool(truncate_every and report["kills"] % truncate_every == 0)
        before_kill = ([0] + [s or 0 for s in report["checkpoints_after_kill"]])[-1]
        if due and len(found) >= 2 and found[-2] >= before_kill:  # intact progress never goes back
            due = False
            how = ("half", "zero")[len(report["damaged"]) % 2]
            path = damage(crashed / "checkpoints" / f"step_{found[-1]:07d}.pt", how)
            damaged[path] = path.stat().st_ino
            report["damaged"].append(str(path))
            found = check_checkpoints(crashed, damaged)
            log(f"kill {report['kills']}: cut {path.name} to {how}")
        report["checkpoints_after_kill"].append(found[-1] if found else None)
        log(f"kill {report['kills']}: intact checkpoints now at steps {found}")
    if not (crashed / "model.safetensors").is_file():
        stderr = run_to_end(train_command(data, crashed, steps, resume=bool(ckpt.list_checkpoints(crashed))))
        report["skipped"] |= skipped_checkpoints(stderr)
        report["resumes"] += 1
    check_checkpoints(crashed)  # every damaged checkpoint has been written anew

    a, b = step_records(straight), step_records(crashed)
    assert sorted(a) == sorted(b) == list(range(1, steps + 1)), (sorted(a), sorted(b))
    keys = [k for k in a[1] if k not in ("step", "time")]
    report["max_loss_rel_diff"] = max(abs(a[s][k] - b[s][k]) / max(abs(a[s][k]), 1e-12) for s in a for k in keys)
    wa, wb = export.read_exported(straight)[0], export.read_exported(crashed)[0]
    report["max_weight_abs_diff"] = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    report["stray_temp_files"] = sorted(p.name for p in crashed.rglob(".*.tmp"))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="empty folder for the data and the two runs")
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument("--truncate-every", type=int, default=0, help="damage the newest checkpoint every K kills")
    args = parser.parse_args(argv)
    report = crash_trials(args.work, args.kills, args.steps, args.seed, truncate_every=args.truncate_every)
    report["skipped"] = sorted(report["skipped"])
    print(json.dumps(report, indent=1))
    ok = (report["max_loss_rel_diff"] < 1e-5 and report["max_weight_abs_diff"] < 1e-6
          and set(report["damaged"]) <= set(report["skipped"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
