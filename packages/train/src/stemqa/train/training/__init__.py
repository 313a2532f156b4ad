"""Training pieces shared by train-dpo and train-mcqa (stable module names, see
docs/ARCHITECTURE.md):

- ``config``: :class:`RunArguments` (data, adapter, resume, early stopping, dry run) and
  :func:`parse_config` (TrlParser: code defaults < YAML --config < flags; removed-TRL-option
  errors; CPU bf16 fallback).
- ``model``: :func:`build_qdora_model` (quantized base via core's bnb_config,
  prepare_model_for_kbit_training, DoRA from ModelConfig, or continue an adapter),
  :func:`keep_trainable_fp32`, :func:`check_trainable`, :func:`configure_dropout`.
- ``plan``: :func:`build_plan`/:func:`print_plan` (meta-device dry run; last line is JSON).
- ``callbacks``: :class:`MetricsLog` (metrics.jsonl), :class:`LivePlots`, :func:`early_stopping`.
- ``plots``: :class:`Panel`, :data:`DPO_PANELS`, :func:`write_plots`.
- ``runs``: run-folder layout, :func:`resolve_resume`, :func:`write_summary`, :func:`environment`.
- ``model_card``: :func:`write_model_card`.
"""
