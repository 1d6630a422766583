"""notebooks/quickstart.ipynb runs from top to bottom (nbclient, a real Jupyter kernel) and shows its figures inline."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_runs_and_shows_its_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("QUICKSTART_OUT", str(tmp_path / "quickstart"))  # the kernel inherits it: the training writes here
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if o.output_type in ("execute_result", "display_data") and "image/png" in o.get("data", {})]
    assert len(images) == 3  # bullwhip, cost bars, trajectories
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "wagner_whitin  orders [130, 0, 80, 0, 120, 0] cost 470" in text and "silver_meal" in text and "cost 500" in text
    assert "POUT + planner" in text and (tmp_path / "quickstart" / "quickstart_policy.pt").is_file()
