"""Training: the config (config), what a run needs checked up front (plan), the run itself read
top to bottom (run), one epoch and one validation pass (loop), model and data set-up (setup),
checkpoints and resume (checkpoints), metric sinks and trackers (sinks), the optimizer (optim)."""
