"""Engine: training loop, evaluation, score files, fusion and metrics."""
