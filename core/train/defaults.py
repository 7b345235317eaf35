"""The default training settings of ``evident train`` in one place (torch-free, so the CLI reads them cheaply).

:class:`core.train.trainer.TrainConfig`, :class:`core.train.cv.CVConfig` and the ``evident train``
flags all take their defaults from here. They were chosen with :mod:`core.train.default_grid`: the
setting whose worst accuracy shortfall from the best of the grid, over held-out digit bags (gated
ABMIL with and without GCE), Musk1 and UCSB, is smallest (docs/results_hosts.md, "Default training
settings"). The paper's protocol (docs/method.md §10: lr 2e-4, 15 epochs, no early stopping) is
``--lr 2e-4 --epochs 15 --patience 0 --no-standardise``... see the table for how it compares.
"""

from __future__ import annotations

__all__ = ["EPOCHS", "LR", "WEIGHT_DECAY", "GRAD_CLIP", "MAX_BAG", "PATIENCE", "STANDARDISE", "OPTIMIZER",
           "VAL_FRACTION"]

EPOCHS = 15          # maximum epochs (cosine schedule over all of them)
LR = 2e-4            # peak learning rate
WEIGHT_DECAY = 1e-5
GRAD_CLIP = 5.0
MAX_BAG = 512        # training bags subsampled to this many instances
PATIENCE = None      # early stopping after this many epochs without a better validation loss (None: never)
STANDARDISE = False  # standardise features with the training fold's instance mean/std
OPTIMIZER = "adamw"
VAL_FRACTION = 0.1   # fraction of training cases held out to pick the best epoch
