"""Errors that become one clear line and exit status 2 at the command line."""


class InputError(Exception):
    """Bad input from outside (a file, a device, a payload): the message names it and why."""


class ConfigError(InputError):
    """An invalid configuration; the message names the key."""


class ModelError(InputError):
    """A model file is missing or altered; the message names it and the command that restores it."""


class SourceError(InputError):
    """A frame source cannot be opened or read."""
