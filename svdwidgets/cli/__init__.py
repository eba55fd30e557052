"""The ``svdwidgets`` command: a report of a model's layer spectra, and JupyterLab on the notebooks.

``svdwidgets report MODEL --out DIR`` profiles every Conv2d, ConvTranspose2d and Linear layer of
a model with :func:`svdwidgets.profile` (the SVD of each layer as the operator PyTorch runs,
Praggastis et al. 2022; methods and their papers in ``DESIGN.md``) and writes into ``DIR``:

``layers.csv`` (and ``layers.parquet`` when pyarrow is importable)
    the per-layer table of :meth:`svdwidgets.Profile.to_dataframe`, shapes written ``16x1x3x3``.
``overview.png``, ``layers/<layer>.png``
    σ_max (exact vs fft), stable rank and power-law α per layer; each layer's sorted σ and the
    ESD of λ = σ² with its Marchenko–Pastur and power-law fits (:mod:`svdwidgets.plots`; needs
    matplotlib).
``report.html``
    a standalone, offline, interactive figure: the table, the frequency maps of the ``fft``
    layers and, with labelled data, the class hypergraph (needs ipywidgets).
``explorer.html``
    the :class:`~svdwidgets.Explorer` of the last conv layer as a standalone page: spectrum,
    frequency map, rendered singular vectors and class hypergraph, linked (needs ipywidgets and
    torch-lucent; ``--no-explorer`` leaves it out).
``report.json``
    what was run: the model, input shape, method, skipped layers, versions, files.

MODEL is one of

* ``default``: the bundled SmallResNet on MNIST digits (:func:`svdwidgets.zoo.load_default`),
  with its 1,000 held-out digits as data;
* ``NAME``, ``torchvision:NAME`` or ``timm:NAME``: a torchvision or timm classifier
  (:mod:`svdwidgets.zoo.external`), with its pretrained weights when they are cached on this
  machine (``--download`` fetches them, ``--random-init`` skips them);
* a checkpoint file, read without running code from it: a ``state_dict`` (also inside a
  ``{"state_dict": ...}`` training checkpoint) with ``--arch`` naming the architecture to load it
  into, or a TorchScript archive with ``--arch`` (its tensors are loaded into the eager
  architecture, as svdwidgets walks eager modules). A whole pickled module
  (``torch.save(model)``) is refused, because ``torch.load(weights_only=True)`` refuses it:
  unpickling it would run code named in the file;
* ``package.module:callable``: a function or class of yours, called without arguments, that
  returns the ``nn.Module`` (the current folder is importable). Importing it runs your code.

``--arch`` takes the same names: ``default``, a torchvision or ``timm:`` name (random weights),
or ``package.module:callable``.

Bad input (a missing file, a file that is not a checkpoint, a refused pickle, an unknown model,
an input shape the model does not run on) prints one line on stderr and exits with status 2;
the report is written into a temporary sibling of ``DIR`` and renamed at the end, so ``DIR``
never holds half a report.

``svdwidgets lab`` copies the notebooks into a working folder (default
``~/svdwidgets-notebooks``; copies that exist are never overwritten) and starts JupyterLab there
on the quickstart.

The package holds one module per job: :mod:`~svdwidgets.cli.sources` (models, checkpoints,
data), :mod:`~svdwidgets.cli.report`, :mod:`~svdwidgets.cli.lab` and :mod:`~svdwidgets.cli.args`
(the parser and :func:`main`, the console script); the names below stay importable from
``svdwidgets.cli``.
"""

from svdwidgets.cli.args import EXIT_BAD_INPUT, main
from svdwidgets.cli.lab import (
    NOTEBOOK_DIR,
    QUICKSTART,
    lab_command,
    notebook_sources,
    prepare_notebooks,
)
from svdwidgets.cli.report import (
    EXACT_SIGMA_LIMIT,
    MAX_FREQUENCY_MAPS,
    _exact_overview,
    file_stems,
    profile_source,
    spread,
    table,
    write_report,
)
from svdwidgets.cli.sources import (
    CHECKPOINT_SUFFIXES,
    ModelSource,
    load_checkpoint,
    load_data,
    load_model,
    parse_shape,
)

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "EXACT_SIGMA_LIMIT",
    "EXIT_BAD_INPUT",
    "MAX_FREQUENCY_MAPS",
    "NOTEBOOK_DIR",
    "QUICKSTART",
    "ModelSource",
    "_exact_overview",
    "file_stems",
    "lab_command",
    "load_checkpoint",
    "load_data",
    "load_model",
    "main",
    "notebook_sources",
    "parse_shape",
    "prepare_notebooks",
    "profile_source",
    "spread",
    "table",
    "write_report",
]
