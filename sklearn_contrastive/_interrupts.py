"""An interrupted call leaves the estimator as it was (Ctrl-C during ``fit``).

skorch swallows a ``KeyboardInterrupt`` in its training loop;
``ContrastiveNet.fit_loop`` notes it and ``train_net`` raises it again, and
:func:`unchanged_if_interrupted`, around ``fit`` and ``partial_fit``, puts
the estimator back before it reaches the caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def unchanged_if_interrupted(estimator) -> Iterator[None]:
    """Leave ``estimator`` as it was when the block ends in a KeyboardInterrupt.

    Its attributes are put back (the fitted model, or none), and its random
    stream rewound, so that the next call does what it would have done had
    the interrupted one never been made.
    """
    state = dict(vars(estimator))
    stream = state.get("_random_state")
    stream_state = None if stream is None else stream.get_state()
    try:
        yield
    except KeyboardInterrupt:
        vars(estimator).clear()
        vars(estimator).update(state)
        if stream is not None:
            stream.set_state(stream_state)
        raise
