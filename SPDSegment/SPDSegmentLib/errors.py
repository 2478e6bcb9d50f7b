"""The errors a user can fix: each message says what is wrong and what to do.

Raised by every layer (inference, training, the MRML bridge, the logic); the CLI turns them into one line
and exit status 2, the Slicer panel into an error dialog.
"""


class InputError(ValueError):
    """Input the user can fix: the message says what is wrong and what to do."""


class CheckpointError(InputError):
    """A checkpoint that cannot be used; the message names what was expected and what was found."""
