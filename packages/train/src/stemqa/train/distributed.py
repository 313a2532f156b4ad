"""Which engine a training run was launched on, and refusing the combinations known to break.

stemqa does not launch anything itself: ``accelerate launch --config_file
configs/accelerate/<engine>.yaml -m stemqa.train.dpo_cli …`` (or ``torchrun``) starts the
processes, and accelerate tells them the engine through environment variables (``WORLD_SIZE``,
``ACCELERATE_USE_FSDP``, ``FSDP_VERSION``, ``ACCELERATE_USE_DEEPSPEED``,
``ACCELERATE_DEEPSPEED_ZERO_STAGE`` …), which transformers' Trainer then reads. The same
choice can come from TrainingArguments (``--fsdp``, ``--deepspeed ds.json``).
:func:`detect_launch` reads both, and :func:`validate_launch` (called by train-dpo and
train-mcqa before any weight is loaded, dry runs included) refuses, in one line, what is known
to fail after minutes of loading or, worse, to train silently wrong:

* **QLoRA + FSDP needs** ``bnb_4bit_quant_storage`` **equal to the model dtype** (the
  bitsandbytes FSDP-QLoRA guide and peft's FSDP+QLoRA recipe). With the default uint8
  storage FSDP1 cannot flatten the packed weights ("Cannot flatten integer dtype tensors",
  peft#1432), and with a different float dtype it cannot flatten them together with the rest
  ("Must flatten tensors with uniform dtype", trl#1723, axolotl#1494). In stemqa that dtype is
  float32 (:data:`FSDP_QLORA_DTYPE`): the QDoRA build keeps norms and adapter weights in fp32.
* **QLoRA + FSDP2 is refused.** fully_shard turns bitsandbytes ``Params4bit`` into plain
  tensors and drops their quant_state (accelerate#3874 open, axolotl#2992); accelerate only
  avoids the crash by leaving uint8 ones unsharded (accelerate#3983). Use the FSDP1 QLoRA config.
* **QLoRA + DeepSpeed ZeRO-3 is refused.** ZeRO-3 partitions parameters at construction
  (``zero.Init``), which does not support quantized weights (bitsandbytes#1249, peft#1844):
  transformers switches it off for 4-bit models, so every GPU loads the whole model (no
  saving, transformers#24395) or the Trainer stops with "Model was not initialized with
  Zero-3" (peft#2014). ZeRO-2 (optimizer and gradient sharding) works with QLoRA; ZeRO-3
  works with ``load_in_4bit: false``.
* FSDP with ``use_cpu``: accelerate (1.15, state.py) turns FSDP on only over GPU-like devices; a
  CPU launch becomes plain DDP (MULTI_CPU) and silently ignores the FSDP config.
* 8-bit bitsandbytes weights cannot be sharded by FSDP at all; FSDP's own activation
  checkpointing and the Trainer's ``gradient_checkpointing`` cannot both be on; a DeepSpeed
  launch needs the ``deepspeed`` extra installed.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemqa.core.loading import ModelLoadError

#: The shipped accelerate configs (configs/accelerate/NAME.yaml) and what each is for.
SHIPPED_CONFIGS: dict[str, str] = {
    "ddp": "data parallel, one full model per GPU (QLoRA or not)",
    "fsdp": "FSDP2, full shard, bf16 DoRA without 4-bit",
    "fsdp_qlora": "FSDP1, full shard, QLoRA with dtype = bnb_4bit_quant_storage = float32",
    "zero2": "DeepSpeed ZeRO-2 (optimizer + gradients sharded), QLoRA or not",
    "zero3": "DeepSpeed ZeRO-3 (parameters sharded too), without 4-bit",
}


#: The storage/model dtype QLoRA on FSDP1 needs in stemqa. FSDP flattens each wrapped layer into
#: one tensor of one dtype; prepare_model_for_kbit_training and the fp32 adapter guard (TRL
#: issue 7268, training/model.py) keep norms, biases and adapter weights in float32, so the packed
#: 4-bit weights must be stored in float32 too (same bytes: 8 nibbles per float32 instead of 2 per
#: uint8). transformers then sets FSDP's mixed-precision policy to that storage dtype.
FSDP_QLORA_DTYPE = "float32"


class LaunchError(ModelLoadError):
    """This model setup cannot run on this launcher; the message says why and what to use."""


@dataclass(frozen=True)
class Launch:
    """How this process was started."""

    engine: str  # "single", "ddp", "fsdp", "deepspeed"
    world_size: int = 1
    fsdp_version: int | None = None
    zero_stage: int | None = None
    fsdp_activation_checkpointing: bool = False

    def describe(self) -> str:
        name = {
            "single": "one process",
            "ddp": "DDP",
            "fsdp": f"FSDP{self.fsdp_version or 1}",
            "deepspeed": f"DeepSpeed ZeRO-{self.zero_stage if self.zero_stage is not None else '?'}",
        }[self.engine]
        return f"{name} x {self.world_size} process{'es' if self.world_size != 1 else ''}"


def _true(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _deepspeed_stage(source: Any) -> int | None:
    """ZeRO stage from a DeepSpeed JSON path or dict (``zero_optimization.stage``)."""
    config = source
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            return None
        try:
            config = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
    if isinstance(config, Mapping):
        stage = (config.get("zero_optimization") or {}).get("stage")
        return int(stage) if stage is not None else None
    return None


def detect_launch(training_args: Any = None, env: Mapping[str, str] | None = None) -> Launch:
    """The engine from accelerate's environment variables, else from TrainingArguments."""
    env = os.environ if env is None else env
    world_size = int(env.get("WORLD_SIZE", "1") or 1)
    fsdp_args = getattr(training_args, "fsdp", None)
    fsdp_config = dict(getattr(training_args, "fsdp_config", None) or {})
    deepspeed_args = getattr(training_args, "deepspeed", None)
    if _true(env.get("ACCELERATE_USE_DEEPSPEED", "false")) or deepspeed_args:
        stage = env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE")
        zero = int(stage) if stage not in (None, "", "None") else None
        if zero is None:
            zero = _deepspeed_stage(env.get("ACCELERATE_DEEPSPEED_CONFIG_FILE") or deepspeed_args)
        return Launch("deepspeed", world_size, zero_stage=zero)
    if _true(env.get("ACCELERATE_USE_FSDP", "false")) or fsdp_args:
        version = (
            env.get("FSDP_VERSION")
            or fsdp_config.get("version")
            or fsdp_config.get("fsdp_version", 1)
        )
        checkpointing = _true(
            env.get("FSDP_ACTIVATION_CHECKPOINTING", fsdp_config.get("activation_checkpointing"))
        )
        return Launch(
            "fsdp",
            world_size,
            fsdp_version=int(version),
            fsdp_activation_checkpointing=checkpointing,
        )
    return Launch("ddp" if world_size > 1 else "single", world_size)


def _dtype_name(value: Any) -> str:
    return str(value).replace("torch.", "") if value is not None else "auto"


def check_launch(launch: Launch, model_args: Any, training_args: Any = None) -> None:
    """Raise LaunchError (one line) for a combination known to break; see the module docstring."""
    four_bit = bool(getattr(model_args, "load_in_4bit", False))
    eight_bit = bool(getattr(model_args, "load_in_8bit", False))
    checkpointing = bool(getattr(training_args, "gradient_checkpointing", False))
    where = launch.describe()
    if launch.engine == "fsdp":
        if getattr(training_args, "use_cpu", False):
            raise LaunchError(
                f"{where} with use_cpu: accelerate runs a CPU launch as plain DDP (MULTI_CPU) and "
                "ignores the FSDP config, so nothing would be sharded; on CPU use "
                "configs/accelerate/ddp.yaml or torchrun, FSDP needs GPUs"
            )
        if eight_bit:
            raise LaunchError(
                f"{where}: 8-bit bitsandbytes weights cannot be sharded by FSDP; use load_in_4bit "
                "with configs/accelerate/fsdp_qlora.yaml, or configs/accelerate/ddp.yaml"
            )
        if four_bit:
            dtype = _dtype_name(getattr(model_args, "dtype", None))
            storage = _dtype_name(getattr(model_args, "bnb_4bit_quant_storage", None) or "uint8")
            if launch.fsdp_version and launch.fsdp_version >= 2:
                raise LaunchError(
                    f"{where}: QLoRA (load_in_4bit) is not supported on FSDP2, whose fully_shard "
                    "drops the quant_state of 4-bit weights (accelerate#3874): use "
                    "configs/accelerate/fsdp_qlora.yaml (FSDP1) or configs/accelerate/ddp.yaml"
                )
            if storage != dtype or dtype != FSDP_QLORA_DTYPE:
                raise LaunchError(
                    f"{where}: QLoRA on FSDP needs bnb_4bit_quant_storage equal to the dtype of "
                    f"every other weight (now dtype: {dtype}, bnb_4bit_quant_storage: {storage}), "
                    "and stemqa keeps layer norms and adapter weights in float32: set dtype: "
                    "float32 and bnb_4bit_quant_storage: float32 (4-bit layers still compute in "
                    "bf16; peft#1432, trl#1723)"
                )
        if launch.fsdp_activation_checkpointing and checkpointing:
            raise LaunchError(
                f"{where}: fsdp_activation_checkpointing and gradient_checkpointing are both on; "
                "keep one (set gradient_checkpointing: false to use FSDP's)"
            )
    if launch.engine == "deepspeed":
        import importlib.util

        if (four_bit or eight_bit) and launch.zero_stage == 3:
            raise LaunchError(
                f"{where}: QLoRA (load_in_4bit/8bit) with ZeRO-3 is not supported: ZeRO-3's "
                "zero.Init cannot partition quantized weights (bitsandbytes#1249, peft#2014); "
                "use configs/accelerate/zero2.yaml, or ZeRO-3 with load_in_4bit: false"
            )
        if importlib.util.find_spec("deepspeed") is None:
            raise LaunchError(
                f"{where}: deepspeed is not installed; install the extra with "
                "`uv sync --extra deepspeed` (or use configs/accelerate/fsdp.yaml)"
            )


def with_quant_storage(config: Any, model_args: Any) -> Any:
    """Apply ``--bnb_4bit_quant_storage`` on top of core's nf4 preset (which would drop it):
    FSDP can shard 4-bit weights only in a float storage dtype (see the module docstring)."""
    storage = getattr(model_args, "bnb_4bit_quant_storage", None)
    if config is not None and storage:
        import torch

        config.bnb_4bit_quant_storage = getattr(torch, _dtype_name(storage))
    return config


def engine_missing(env: Mapping[str, str] | None = None) -> str | None:
    """One line when the launcher asks for an engine whose package is absent, else None.

    Checked before the arguments are parsed: TrainingArguments already sets DeepSpeed up while
    parsing, so a missing package would otherwise surface as a traceback from inside it."""
    import importlib.util

    launch = detect_launch(None, env)
    if launch.engine == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        return (
            f"{launch.describe()}: deepspeed is not installed; install the extra with "
            "`uv sync --extra deepspeed` (or use configs/accelerate/fsdp.yaml)"
        )
    return None


def preflight() -> None:
    """Exit 2 with one line when :func:`engine_missing` finds a problem (console scripts)."""
    problem = engine_missing()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(2)


def validate_launch(model_args: Any, training_args: Any = None) -> None:
    """Check the launch against the model setup before anything loads; raises LaunchError.

    Called once at the start of train-dpo/train-mcqa (also for --dry_run). On a multi-process
    launch, the main process also prints one line naming the engine it detected."""
    launch = detect_launch(training_args)
    check_launch(launch, model_args, training_args)
    if launch.engine != "single" and int(os.environ.get("RANK", "0") or 0) == 0:
        quant = "QLoRA 4-bit" if getattr(model_args, "load_in_4bit", False) else "no 4-bit"
        print(f"stemqa: launch {launch.describe()} ({quant}): supported", file=sys.stderr)


def launch_environment(
    config_file: str | Path, *, num_processes: int | None = None, port: int | None = None
) -> dict[str, str]:
    """The environment ``accelerate launch --config_file FILE`` gives each process, built by
    accelerate's own launcher code without starting anything (dry runs, tests, docs).

    Returns only the variables accelerate adds (ACCELERATE_*, FSDP_*, WORLD_SIZE …)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    argv = ["--config_file", str(config_file)]
    if num_processes is not None:
        argv += ["--num_processes", str(num_processes)]
    if port is not None:
        argv += ["--main_process_port", str(port)]
    argv += ["-m", "stemqa.train.dpo_cli"]
    args = launch_command_parser().parse_args(argv)
    args, defaults, _ = _validate_launch_command(args)
    before = dict(os.environ)
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(
            list(defaults.deepspeed_config.keys()) if defaults else []
        )
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    added = {k: v for k, v in env.items() if before.get(k) != v and k != "PYTHONPATH"}
    added.setdefault("WORLD_SIZE", str(args.num_processes or 1))
    return added
