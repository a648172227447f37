"""`Configurable`: plain (non-layer) objects that Keras serializes by their constructor args."""


class Configurable:
    """Base of tasks and aggregators: `get_config()` returns the constructor arguments,
    `from_config(config)` calls the constructor with them, and the repr shows them.

    Example:
    >>> class Scale(Configurable):
    ...     def __init__(self, factor):
    ...         self.factor = factor
    ...     def get_config(self):
    ...         return {"factor": self.factor}
    >>> Scale.from_config(Scale(2).get_config())
    Scale(factor=2)
    """

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
