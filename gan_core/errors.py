"""Every error the library raises on purpose. Only the command lines turn them into messages and exit codes."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value that the model or the trainer cannot use."""


class CheckpointError(Exception):
    """A checkpoint file that is missing, unreadable or does not fit the model; the message names the file."""


class RunFolderError(Exception):
    """A run or output folder that training or export must not write into (it holds something else)."""


class DataNotFoundError(FileNotFoundError):
    """MNIST is not where we were told to look (or its files are damaged)."""


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the run stops and the last good checkpoint is kept."""
