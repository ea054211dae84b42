"""Large corpora stream from disk: benchmarks/large_corpus.py on a small generated corpus."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow  # end to end: make test runs it, make test-fast does not

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "large_corpus.py"
_spec = importlib.util.spec_from_file_location("large_corpus", BENCH)
large_corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(large_corpus)


def test_generated_corpus_builds_a_memory_mapped_cache_within_the_memory_limit(tmp_path):
    n_units, seconds = large_corpus.generate_corpus(tmp_path, hours=0.004)  # ~80 units, ~14 s of audio
    assert seconds >= 0.004 * 3600 and (tmp_path / "manifest.csv").is_file()
    again = large_corpus.generate_corpus(tmp_path, hours=0.004)  # reused, not rewritten
    assert again[0] == n_units and abs(again[1] - seconds) < 1e-3
    child = subprocess.run([sys.executable, str(BENCH), "--child", "--work", str(tmp_path)],
                           stdout=subprocess.PIPE, text=True, check=True, timeout=300)
    build = json.loads(child.stdout.strip().splitlines()[-1])
    assert build["n_tiles"] == n_units and build["peak_rss_mb"] < 2048

    from gaia_audio.data.cache import build_tile_cache
    from gaia_audio.data.sampler import BatchSampler
    from gaia_audio.spectral.presets import make_frontend

    tiles = build_tile_cache(tmp_path, make_frontend("zebra_finch"), cache_dir=tmp_path / "cache", progress=False)
    assert isinstance(tiles.tiles, np.memmap) and tiles.tiles.dtype == np.float16
    index = np.arange(0, n_units, 2)
    sampler = BatchSampler(tiles.tiles, 8, seed=0, index=index)
    assert sampler.tiles is tiles.tiles  # batches are read from disk, the dataset is never copied
    batch = sampler.next()
    assert batch.shape == (8, *tiles.tiles.shape[1:]) and batch.dtype == torch.float32
    # every drawn tile is one of the indexed rows, read exactly
    rows = {i: torch.from_numpy(np.asarray(tiles.tiles[i], np.float32)) for i in index}
    assert all(any(torch.equal(b, r) for r in rows.values()) for b in batch)
    assert large_corpus.loader_rate(tmp_path, batch_size=8, n_batches=5) > 0
