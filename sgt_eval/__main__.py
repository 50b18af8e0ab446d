"""``python -m sgt_eval`` (also what ``torchrun -m sgt_eval`` runs)."""

import sys

from sgt_eval.cli import main

sys.exit(main())
