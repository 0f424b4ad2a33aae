"""Engine: training (train/: config, plan, the run, the loop, checkpoints and sinks), evaluation
(eval/: scoring a list, inference, shards and ranks), predict, score files and aggregation,
fusion, metrics and distributed set-up."""
