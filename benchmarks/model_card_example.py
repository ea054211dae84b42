"""The figures of a shipped model's example pair, written into its card.json (what the tests reproduce).

Morphs the pair in ``gaia_audio/pretrained/NAME/examples/`` exactly as ``gaia-audio morph a.wav b.wav
--steps 16`` does (default tuning and spacing, torch seed 0) and records the ends' fidelity to the
recordings (dB), the step CV, the steady-step share, and the seconds the morph took (after a
warm-up; read them beside the load average recorded with them).

    python benchmarks/model_card_example.py birdsong samba_003.wav flashcam_001.wav
    python benchmarks/model_card_example.py speech two.wav five.wav
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the measures beside this script
import continuum_measures as cq  # noqa: E402

from gaia_audio import load_model, pretrained
from gaia_audio.io import audio
from gaia_audio.morph.model import make_endpoint
from gaia_audio.morph.perceptual import perceptual_distance
from gaia_audio.morph.series import morph_pair
from gaia_audio.morph.tune import TuneSettings

STEPS = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", help="the shipped model")
    parser.add_argument("a", help="file in the model's examples/ folder")
    parser.add_argument("b", help="file in the model's examples/ folder")
    args = parser.parse_args()
    folder = pretrained.model_dir(args.name)
    torch.manual_seed(0)
    vm = load_model(args.name)
    ends = [make_endpoint(vm, *audio.load(folder / "examples" / f), key) for key, f in (("a", args.a), ("b", args.b))]
    settings = TuneSettings()
    morph_pair(vm, *ends, steps=4, tune_steps=2, tune=settings)  # warm-up: numba's compilation, allocations
    torch.manual_seed(0)
    start = time.perf_counter()
    result = morph_pair(vm, *ends, steps=STEPS, tune_steps=settings.steps, tune=settings)
    seconds = time.perf_counter() - start
    first, last = cq.endpoint_fidelity(vm.frontend, ends[0].y, ends[1].y, result.waveforms)
    distances = cq.consecutive_distances(result.waveforms, vm.sr, perceptual_distance)
    card_file = folder / "card.json"
    card = json.loads(card_file.read_text()) if card_file.is_file() else {}
    card["example"] = {"a": f"examples/{args.a}", "b": f"examples/{args.b}", "steps": STEPS,
                       "tune_steps": settings.steps, "fidelity_db": [round(first, 2), round(last, 2)],
                       "step_cv": round(cq.step_cv(distances), 3),
                       "steady": round(cq.steadiness(result.waveforms, vm.sr, perceptual_distance), 3),
                       "seconds": round(seconds, 1), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                       "load_average": round(os.getloadavg()[0], 1)}
    card_file.write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card["example"], indent=2))


if __name__ == "__main__":
    main()
