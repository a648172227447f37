"""An error, instead of Keras's warning, when `fit`, `evaluate` or `predict` gets no batch from its data.

Keras only warns that the input "ran out of data" when a dataset is empty (a filter
that kept nothing, a `take(0)`, a split smaller than one batch under
`drop_remainder`): `fit` then runs its epochs without a step, hands every callback an
epoch's end (a checkpoint of the untrained model among them) and returns an empty
history, `evaluate` returns no loss, and `predict` fails with an UnboundLocalError
from Keras's loop. `MultiTaskModel.fit`, `evaluate` and `predict` put
`RequireBatches` first among the callbacks, so that such a run stops with a
ValueError that says what to check, before any other callback sees the empty epoch.
"""

import inspect

import keras


class RequireBatches(keras.callbacks.Callback):
    """Raises a ValueError at the end of a training epoch, an evaluation or a prediction
    that ran no batch.

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

    ADVICE = ("the data is empty: an array of no examples, a dataset whose filter or take kept no "
              "example, or fewer examples than one batch with drop_remainder=True. Check a dataset "
              "with next(iter(dataset)).")

    def __init__(self):
        super().__init__()
        self._batches = {"train": 0, "test": 0, "predict": 0}  # of each loop's current run

    def _require_batches(self, loop, what, when=""):
        if not self._batches[loop]:
            raise ValueError(f"The {what} gave no batch{when} ({self.ADVICE})")

    def on_epoch_begin(self, epoch, logs=None):
        self._batches["train"] = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches["train"] += 1

    def on_epoch_end(self, epoch, logs=None):
        self._require_batches("train", "training data", f" in epoch {epoch + 1}")

    def on_test_begin(self, logs=None):
        self._batches["test"] = 0

    def on_test_batch_end(self, batch, logs=None):
        self._batches["test"] += 1

    def on_test_end(self, logs=None):
        self._require_batches("test", "evaluation (or validation) data")

    def on_predict_begin(self, logs=None):
        self._batches["predict"] = 0

    def on_predict_batch_end(self, batch, logs=None):
        self._batches["predict"] += 1

    def on_predict_end(self, logs=None):
        self._require_batches("predict", "data to predict on")


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
    """`(args, kwargs)` of a call to `method` (a `fit`, `evaluate` or `predict` bound to a model) with
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
