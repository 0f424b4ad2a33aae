"""Engine: training loop and its bookkeeping, evaluation, score files and aggregation, fusion,
metrics, trackers and distributed set-up."""
