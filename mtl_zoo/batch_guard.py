"""An error, instead of Keras's warning, when `fit` or `evaluate` gets no batch from its data.

Keras only warns that the input "ran out of data" when a dataset is empty (a filter
that kept nothing, a `take(0)`, a split smaller than one batch under
`drop_remainder`): `fit` then runs its epochs without a step, hands every callback an
epoch's end (a checkpoint of the untrained model among them) and returns an empty
history, and `evaluate` returns no loss. `MultiTaskModel.fit` and `evaluate` put
`RequireBatches` first among the callbacks, so that such a run stops with a
ValueError before any other callback sees the empty epoch.
"""

import inspect

import keras


class RequireBatches(keras.callbacks.Callback):
    """Raises a ValueError at the end of a training epoch or an evaluation that ran no batch.

    Example:
    >>> guard = RequireBatches()
    >>> guard.on_epoch_begin(0)
    >>> guard.on_epoch_end(0)
    Traceback (most recent call last):
    ...
    ValueError: The training data gave no batch in epoch 1 ...
    >>> guard.on_epoch_begin(1); guard.on_train_batch_end(0); guard.on_epoch_end(1)
    """

    # Keras may then run the batch hooks on a thread pool, as without this callback; it
    # waits for them before each epoch's end and each evaluation's end, where the counts are read.
    async_safe = True

    ADVICE = ("the dataset is empty: a filter or take that kept no example, or fewer examples than "
              "one batch with drop_remainder=True. Check it with next(iter(dataset)).")

    def __init__(self):
        super().__init__()
        self._train_batches = 0
        self._test_batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._train_batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._train_batches += 1

    def on_epoch_end(self, epoch, logs=None):
        if not self._train_batches:
            raise ValueError(f"The training data gave no batch in epoch {epoch + 1} ({self.ADVICE})")

    def on_test_begin(self, logs=None):
        self._test_batches = 0

    def on_test_batch_end(self, batch, logs=None):
        self._test_batches += 1

    def on_test_end(self, logs=None):
        if not self._test_batches:
            raise ValueError(f"The evaluation (or validation) data gave no batch ({self.ADVICE})")


def guarded_callbacks(callbacks, model=None):
    """`callbacks` (None, one callback, a list or tuple) as a list with a `RequireBatches`
    first, unless it has one. A Keras `CallbackList` (given by the user, or what `fit`
    hands its own `evaluate` of the validation data) gets one inserted first, set to
    `model`, unless it has one.

    Example:
    >>> [type(callback).__name__ for callback in guarded_callbacks(None)]
    ['RequireBatches']
    >>> len(guarded_callbacks(guarded_callbacks([keras.callbacks.History()])))
    2
    """
    if isinstance(callbacks, keras.callbacks.CallbackList):
        if not any(isinstance(callback, RequireBatches) for callback in callbacks.callbacks):
            guard = RequireBatches()
            guard.set_model(model)
            callbacks.callbacks.insert(0, guard)
        return callbacks
    if callbacks is None:
        callbacks = []
    elif isinstance(callbacks, keras.callbacks.Callback):
        callbacks = [callbacks]
    else:
        callbacks = list(callbacks)
    if any(isinstance(callback, RequireBatches) for callback in callbacks):
        return callbacks
    return [RequireBatches()] + callbacks


def with_guarded_callbacks(method, args, kwargs):
    """`(args, kwargs)` of a call to `method` (a `fit` or `evaluate` bound to a model) with
    its `callbacks` argument, given by position or by name, through `guarded_callbacks`.

    Example:
    >>> def fit(x=None, epochs=1, callbacks=None): ...
    >>> args, kwargs = with_guarded_callbacks(fit, ("data", 2), {})
    >>> args[:2], [type(callback).__name__ for callback in args[2]]
    (('data', 2), ['RequireBatches'])
    """
    bound = inspect.signature(method).bind(*args, **kwargs)
    bound.arguments["callbacks"] = guarded_callbacks(bound.arguments.get("callbacks"),
                                                     getattr(method, "__self__", None))
    return bound.args, bound.kwargs
