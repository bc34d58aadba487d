"""Exceptions whose message is returned to the client as {"error": message}."""


class JobError(Exception):
    """A failure the client should see verbatim: bad input, missing file, Applio failure."""


class ValidationError(JobError):
    """An input field is missing, has the wrong type, or is out of range."""


class ConfigError(JobError):
    """The worker itself is misconfigured (paths, missing Applio, missing volume)."""


class JobCancelled(JobError):
    """The job was stopped from outside (RunPod's cancel or execution timeout, a signal with --local-job)."""
