"""The error types core code raises; the CLI edge turns them into `error: ...` and exit 1."""


class TsnError(Exception):
    """A failure the user can act on. The message must say what to do next."""


class UsageError(TsnError):
    """Bad input: a wrong path, value or combination the user chose."""


class DataError(TsnError):
    """Input data is missing, corrupt or inconsistent (frames, lists, archives, score files)."""


class DownloadError(TsnError):
    """A download or checksum verification failed."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (SLURM preemption, `kill`, a container stop), handled as Ctrl-C is: every
    temporary output is removed, the last finished one kept, and the command says so."""
