"""The shared body of the train-dpo and train-mcqa console scripts.

Both scripts parse a TRL-style (script, training, model) triple, run, and turn the errors a user
can fix (a model that won't load, bad data) into one line and exit status 2, while real bugs
still raise with their traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any


def run_script(
    parse_args: Callable[[Sequence[str] | None], tuple[Any, Any, Any]],
    run: Callable[[Any, Any, Any], Any],
    user_errors: tuple[type[BaseException], ...],
    argv: Sequence[str] | None = None,
) -> int:
    from stemqa.core.loading import ModelLoadError
    from stemqa.train.distributed import preflight, validate_launch

    preflight()  # a launcher engine (DeepSpeed) whose package is missing: one line, exit 2
    script_args, training_args, model_args = parse_args(argv)
    try:
        validate_launch(model_args, training_args)  # engine vs QLoRA, stemqa.train.distributed
        run(script_args, training_args, model_args)
    except (ModelLoadError, *user_errors) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
