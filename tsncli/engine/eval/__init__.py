"""Evaluation: scoring a list with S snippets x N crops (evaluate), running a checkpoint on test
clips (inference), the shard folder of a run (shards) and the ranks of a launched job (ranks)."""
