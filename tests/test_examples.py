"""The gallery examples (examples/plot_*.py) run to the end, off-screen.

Each one is executed as the documentation build executes it: as ``__main__``,
with no command-line argument (so nothing is written into the repository), and
with matplotlib's Agg backend, which draws without a display. They train
networks for up to a minute each, hence ``slow``: ``pytest -m slow``.

torch runs on one thread here. On two idle cores that costs about 10 %, but
when other processes compete for the cores, two OpenMP threads that spin-wait
made the same fits 7 to 14 times slower (see "Threads" in
docs/user_guide/devices.rst).
"""

import runpy
import sys
import warnings
from pathlib import Path

import pytest
import torch

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("plot_*.py"))


def test_examples_found():
    assert len(EXAMPLES) >= 9, [path.name for path in EXAMPLES]


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_runs(path, monkeypatch, tmp_path):
    # The examples read sys.argv: no argument, as under sphinx-gallery.
    monkeypatch.setattr(sys, "argv", [str(path)])
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            # plt.show() is a no-op under Agg, and says so.
            warnings.filterwarnings("ignore", message=".*non-interactive.*")
            runpy.run_path(str(path), run_name="__main__")
        assert plt.get_fignums(), f"{path.name} drew no figure"
    finally:
        torch.set_num_threads(threads)
        plt.close("all")
    assert not any(tmp_path.iterdir()), f"{path.name} wrote files"
