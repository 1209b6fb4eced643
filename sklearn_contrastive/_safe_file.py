"""The safe model file: arrays in safetensors, everything else in JSON.

``save`` writes an estimator's state (its ``__getstate__``: parameters,
fitted attributes and, for a ``ContrastiveEmbedder``, the portable state of
its net, ``_state.py``) as one safetensors file: the arrays are its tensors,
and a JSON document in its metadata holds the rest, each array replaced by
the name of its tensor. ``load`` parses both, which runs no code of the
file's: no pickle, and no name read from the file is imported. Types beyond
JSON's are tagged objects that only build plain data (tuples, dicts with
other keys, NumPy arrays of strings, a ``RandomState``), this library's own
estimators (looked up in :data:`ESTIMATORS`) or sklearn's
``FrozenEstimator``.

A parameter that JSON cannot hold (a module class, callback objects, an
optimizer class...) is stored by its type's name only, and ``load`` takes it
back as a keyword argument.
"""

from __future__ import annotations

import json
import os
import re
import warnings

import numpy as np
import sklearn
import skorch
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted

from ._state import NET_STATE

#: The version of the file layout that :meth:`SafeFileMixin.save` writes.
#: A file of a newer version is refused; raise it when older code could
#: misread a new file.
FORMAT_VERSION = 1

#: The metadata key of safetensors' header that holds the JSON document.
METADATA_KEY = "sklearn_contrastive"

#: This library's estimators, by class name: the only classes a file may
#: name (for nested estimators, e.g. ``PairVerifier.embedder_``).
ESTIMATORS: dict[str, type] = {}

_TAGS = (
    "__tensor__",
    "__array__",
    "__tuple__",
    "__dict__",
    "__random_state__",
    "__estimator__",
    "__frozen__",
    "__missing__",
)
_PLAIN = (type(None), bool, int, float, str)
_STRING_DTYPE = re.compile(r"[<>|=]?U\d+")


class SafeFileMixin:
    """``save`` to, and ``load`` from, a file that loads without running code."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("sklearn_contrastive."):
            ESTIMATORS[cls.__name__] = cls

    def save(self, file, *, include_optimizer=True):
        """Save the fitted estimator to a file that loads without running code.

        The file is a `safetensors <https://huggingface.co/docs/safetensors>`_
        file: the network's weights (and the optimizer's state) are its
        tensors, and its metadata holds a JSON document with the format
        version, the library versions, the parameters, the fitted attributes
        and the training history. :meth:`load` reads it back; no pickle is
        involved. Read more in :ref:`user_guide_persistence`.

        Parameters
        ----------
        file : str, path-like or binary file object
            Where to write; the suffix ``.safetensors`` is customary.

        include_optimizer : bool, default=True
            Whether to store the optimizer's state (Adam's moments, twice the
            size of the weights), which ``partial_fit`` continues from after
            :meth:`load`. Without it the loaded model embeds the same, and a
            later ``partial_fit`` starts a fresh optimizer state.

        Warns
        -----
        UserWarning
            When a parameter is stored by its type's name only (a module
            class, callback objects...): :meth:`load` then needs it back.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        TypeError
            If a fitted attribute is not plain data, NumPy arrays or this
            library's estimators (use ``skops.io`` or joblib then).
        """
        check_is_fitted(self)
        safetensors = _safetensors(f"{type(self).__name__}.save")

        from . import __version__

        encoder = _Encoder(include_optimizer=bool(include_optimizer))
        document = {
            "format": "sklearn-contrastive",
            "format_version": FORMAT_VERSION,
            "estimator": type(self).__name__,
            "versions": {
                "sklearn-contrastive": __version__,
                "scikit-learn": sklearn.__version__,
                "skorch": skorch.__version__,
                "torch": torch.__version__,
                "numpy": np.__version__,
            },
            "state": _encoded(encoder, self),
        }
        if encoder.missing:
            name = type(self).__name__
            stored = ", ".join(f"{k} ({v})" for k, v in encoder.missing.items())
            given = ", ".join(f"{k}=..." for k in encoder.missing)
            warnings.warn(
                f"{name}.save stores {stored} by type name only: a safe file holds "
                f"no code. Give it back when loading: {name}.load(file, {given}).",
                UserWarning,
                stacklevel=2,
            )
        metadata = {METADATA_KEY: json.dumps(document)}
        data = safetensors.numpy.save(encoder.tensors, metadata=metadata)
        if hasattr(file, "write"):
            file.write(data)
        else:
            with open(file, "wb") as handle:
                handle.write(data)

    @classmethod
    def load(cls, file, **params):
        """Load an estimator written by :meth:`save`, running none of the file's code.

        The network is rebuilt as ``fit`` builds it and given the saved
        weights, on the device it was fitted on or, when this machine lacks
        it, on the CPU (with a warning): no GPU is needed. Read more in
        :ref:`user_guide_persistence`.

        Parameters
        ----------
        file : str, path-like or binary file object
            A file written by :meth:`save`.

        **params
            The parameters that the file stores by type name only (a module
            class, callbacks...; :meth:`save` warned of them), e.g.
            ``module=MyNet``. Each fills every place of the file that lacks
            it; no other parameter may be given.

        Returns
        -------
        estimator : object
            The fitted estimator, its ``transform`` bit-identical to the saved
            one's on the same device.

        Raises
        ------
        ValueError
            If the file was written by a newer format version, is damaged or
            was not written by :meth:`save`, holds another estimator class, or
            lacks a parameter not given in ``params``.
        TypeError
            If ``params`` names a parameter that the file holds.

        Examples
        --------
        >>> import io
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_contrastive import ContrastiveEmbedder
        >>> X, y = load_iris(return_X_y=True)
        >>> embedder = ContrastiveEmbedder(max_epochs=2, random_state=0).fit(X, y)
        >>> file = io.BytesIO()
        >>> embedder.save(file)
        >>> loaded = ContrastiveEmbedder.load(io.BytesIO(file.getvalue()))
        >>> bool((loaded.transform(X) == embedder.transform(X)).all())
        True
        """
        document, data = _read_document(file)
        name = _name(file)
        if document["estimator"] != cls.__name__:
            raise ValueError(
                f"{name} holds a {document['estimator']}, not a {cls.__name__}; "
                f"load it with {document['estimator']}.load."
            )
        missing = _missing_parameters(document["state"])
        not_given = sorted(set(missing) - set(params))
        if not_given:
            types = ", ".join(f"{k} ({missing[k]})" for k in not_given)
            given = ", ".join(f"{k}=..." for k in not_given)
            raise ValueError(
                f"{name} stores {types} by type name only: a safe file holds no "
                f"code. Pass it to load: {cls.__name__}.load(file, {given})."
            )
        unexpected = sorted(set(params) - set(missing))
        if unexpected:
            raise TypeError(
                f"{name} holds {', '.join(unexpected)}: {cls.__name__}.load takes "
                "only the parameters that the file lacks. Change it after loading, "
                "with set_params."
            )
        safetensors = _safetensors(f"{cls.__name__}.load")
        try:
            tensors = safetensors.numpy.load(data)
        except safetensors.SafetensorError as error:
            raise ValueError(f"{name} is damaged: {error}") from None
        try:
            return _Decoder(tensors, params).estimator(cls, document["state"])
        except _DamagedFile as error:
            raise ValueError(f"{name} is damaged: {error}") from None
        except (
            KeyError,
            TypeError,
            ValueError,
            IndexError,
            AttributeError,
            RuntimeError,
            RecursionError,
        ) as error:
            # The saved weights and a module class given back that differs,
            # say, or a damaged array.
            raise ValueError(
                f"{name} cannot be loaded: {type(error).__name__}: {error}"
            ) from None


class _DamagedFile(Exception):
    pass


class _Unencodable(Exception):
    def __init__(self, path: tuple, value) -> None:
        super().__init__(path, value)
        self.path, self.value = path, value


def _safetensors(method: str):
    """The ``safetensors`` package (``numpy`` imported), or an ImportError
    that says how to install it."""
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise ImportError(
            f"{method} needs the safetensors package (the safe model file is a "
            "safetensors file): pip install 'sklearn-contrastive[safetensors]'."
        ) from None
    return safetensors


def _name(file) -> str:
    """How messages name ``file``, at the start of a sentence."""
    return repr(os.fspath(file)) if not hasattr(file, "read") else "The file"


def _read_document(file) -> tuple[dict, bytes]:
    """The JSON document of a model file and the file's bytes; the format
    version checked before anything else is read."""
    if hasattr(file, "read"):
        data = file.read()
    else:
        with open(file, "rb") as handle:
            data = handle.read()
    name = _name(file)
    try:
        # safetensors: an 8-byte little-endian header size, the JSON header.
        size = int.from_bytes(data[:8], "little")
        if len(data) < 8 or size > len(data) - 8:
            raise ValueError("too short for its header")
        metadata = json.loads(data[8 : 8 + size]).get("__metadata__") or {}
    except (ValueError, AttributeError, RecursionError) as error:
        raise ValueError(
            f"{name} is not a safetensors file ({error}), so not a model written "
            "by save."
        ) from None
    if METADATA_KEY not in metadata:
        raise ValueError(
            f"{name} is a safetensors file without a sklearn-contrastive model in "
            "its metadata: it was not written by save (for weights alone, read "
            "it with safetensors)."
        )
    try:
        document = json.loads(metadata[METADATA_KEY])
        version = document["format_version"]
        if type(version) is not int or version < 1:
            raise ValueError(f"format_version {version!r} is not a version")
    except (ValueError, TypeError, KeyError, RecursionError) as error:
        raise ValueError(f"{name} is damaged: {error}") from None
    if version > FORMAT_VERSION:
        from . import __version__

        versions = document.get("versions")
        written_by = (
            versions.get("sklearn-contrastive", "?")
            if isinstance(versions, dict)
            else "?"
        )
        raise ValueError(
            f"{name} is in format version {version} of sklearn-contrastive's model "
            f"files (written by sklearn-contrastive {written_by}), but "
            f"sklearn-contrastive {__version__} reads format versions up to "
            f"{FORMAT_VERSION}. Upgrade sklearn-contrastive (pip install --upgrade "
            "sklearn-contrastive) to load it."
        )
    if not isinstance(document.get("state"), dict) or "estimator" not in document:
        raise ValueError(f"{name} is damaged: it has no estimator state.")
    return document, data


def _missing_parameters(node) -> dict[str, str]:
    """``{parameter: type name}`` of every ``__missing__`` entry in ``node``."""
    found = {}
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__missing__" in item:
                found[str(item["__missing__"])] = str(item.get("type", "?"))
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _path(path: tuple) -> str:
    return "".join(f"[{part!r}]" if i else str(part) for i, part in enumerate(path))


def _type_name(value) -> str:
    kind = value if isinstance(value, type) else type(value)
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__}.{name}"
    return f"class {name}" if isinstance(value, type) else f"a {name}"


def _encoded(encoder: _Encoder, estimator) -> dict:
    try:
        return encoder.estimator(estimator, ())
    except _Unencodable as error:
        raise TypeError(
            f"{type(estimator).__name__}.save cannot store "
            f"{_path(error.path)}, {_type_name(error.value)}: a safe file holds "
            "plain data, NumPy arrays of numbers or strings, and this library's "
            "estimators. Save this model with skops.io or joblib instead."
        ) from None


class _Encoder:
    """An estimator's state as JSON data, its arrays set aside as tensors."""

    def __init__(self, *, include_optimizer: bool) -> None:
        self.include_optimizer = include_optimizer
        self.tensors: dict[str, np.ndarray] = {}
        self.missing: dict[str, str] = {}
        self._random_states: dict[int, int] = {}

    def estimator(self, estimator, path: tuple) -> dict:
        state = estimator.__getstate__()
        params = set(estimator.get_params(deep=False))
        encoded = {}
        for name, value in state.items():
            if name in params:
                encoded[name] = self.parameter(value, (*path, name), name)
            elif name == NET_STATE:
                encoded[name] = self.net_state(value, (*path, name))
            else:
                encoded[name] = self.encode(value, (*path, name))
        return encoded

    def net_state(self, state: dict, path: tuple) -> dict:
        if not self.include_optimizer:
            state = {**state, "optimizer": None}
        return {
            key: {
                name: self.parameter(value, (*path, key, name), name)
                for name, value in state[key].items()
            }
            if key == "params"
            else self.encode(state[key], (*path, key))
            for key in state
        }

    def parameter(self, value, path: tuple, name: str):
        """``value`` encoded, or a ``__missing__`` entry naming its type."""
        tensors, random_states = len(self.tensors), dict(self._random_states)
        try:
            return self.encode(value, path)
        except _Unencodable as error:
            # Nothing of the value stays in the file.
            for key in list(self.tensors)[tensors:]:
                del self.tensors[key]
            self._random_states = random_states
            what = _type_name(value)
            if error.value is not value:
                what += f" holding {_type_name(error.value)}"
            self.missing.setdefault(name, what)
            return {"__missing__": name, "type": what}

    def encode(self, value, path: tuple):
        kind = type(value)
        if kind in _PLAIN:
            return value
        if isinstance(value, np.generic) and value.dtype.kind in "biufU":
            return value.item()
        if kind is list:
            return [self.encode(v, (*path, i)) for i, v in enumerate(value)]
        if kind is tuple:
            return {
                "__tuple__": [self.encode(v, (*path, i)) for i, v in enumerate(value)]
            }
        if kind is dict:
            if all(type(k) is str and k not in _TAGS for k in value):
                return {k: self.encode(v, (*path, k)) for k, v in value.items()}
            return {
                "__dict__": [
                    [self.encode(k, path), self.encode(v, (*path, k))]
                    for k, v in value.items()
                ]
            }
        if kind is np.ndarray:
            return self.array(value, path)
        if kind is np.random.RandomState:
            return self.random_state(value, path)
        if ESTIMATORS.get(kind.__name__) is kind:
            return {
                "__estimator__": kind.__name__,
                "state": self.estimator(value, path),
            }
        if kind is FrozenEstimator:
            return {"__frozen__": self.encode(value.estimator, (*path, "estimator"))}
        raise _Unencodable(path, value)

    def array(self, array: np.ndarray, path: tuple):
        # safetensors' NumPy types: bool, (u)int8-64, float16-64.
        if array.dtype.kind in "biuf" and array.dtype.itemsize <= 8:
            key = "/".join(str(part) for part in path)
            while key in self.tensors:
                key += "'"
            little = array.dtype.newbyteorder("<")
            self.tensors[key] = np.require(array.astype(little, copy=False), None, "C")
            return {"__tensor__": key}
        items = array.ravel().tolist()
        if array.dtype.kind == "U" or (
            array.dtype.kind == "O" and all(type(v) in _PLAIN for v in items)
        ):
            dtype = "object" if array.dtype.kind == "O" else array.dtype.str
            return {"__array__": items, "dtype": dtype, "shape": list(array.shape)}
        raise _Unencodable(path, array)

    def random_state(self, random_state: np.random.RandomState, path: tuple):
        # Kept one object: a random_state parameter *is* the fit's stream.
        if id(random_state) in self._random_states:
            return {"__random_state__": self._random_states[id(random_state)]}
        self._random_states[id(random_state)] = index = len(self._random_states)
        state = self.encode(random_state.get_state(), path)
        return {"__random_state__": index, "state": state}


class _Decoder:
    """The inverse of :class:`_Encoder`: plain data and NumPy arrays, and the
    estimators of :data:`ESTIMATORS` (and ``FrozenEstimator``) built from
    them; the parameters the file lacks taken from ``params``."""

    def __init__(self, tensors: dict, params: dict) -> None:
        self.tensors, self.params = tensors, params
        self._random_states: dict[int, np.random.RandomState] = {}

    def estimator(self, cls: type, state: dict):
        state = self.decode(state)
        if not isinstance(state, dict):
            raise _DamagedFile(f"the state of a {cls.__name__} is not a dict")
        for name in state:
            if not isinstance(name, str) or name.startswith("__") or hasattr(cls, name):
                raise _DamagedFile(
                    f"{name!r} is not an attribute a {cls.__name__} can hold"
                )
        absent = sorted(set(cls._get_param_names()) - set(state))
        if absent:
            raise _DamagedFile(
                f"the {cls.__name__} in it lacks the parameters {absent} (was it "
                "written by another version of sklearn-contrastive?)"
            )
        estimator = cls.__new__(cls)
        estimator.__setstate__(state)
        return estimator

    def decode(self, value):
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is list:
            return [self.decode(v) for v in value]
        if kind is not dict:
            raise _DamagedFile(f"unexpected {kind.__name__} in the document")
        tag = next((key for key in value if key in _TAGS), None)
        if tag is None:
            return {k: self.decode(v) for k, v in value.items()}
        if tag == "__tensor__":
            if value[tag] not in self.tensors:
                raise _DamagedFile(f"it lacks the tensor {value[tag]!r}")
            return self.tensors[value[tag]]
        if tag == "__array__":
            dtype = value["dtype"]
            if dtype != "object" and not _STRING_DTYPE.fullmatch(str(dtype)):
                raise _DamagedFile(f"{dtype!r} is not a string or object dtype")
            items = [self.decode(v) for v in value[tag]]
            if not all(type(v) in _PLAIN for v in items):
                raise _DamagedFile("an array holds other than plain values")
            array = np.empty(len(items), dtype=dtype)
            array[:] = items
            return array.reshape(value["shape"])
        if tag == "__tuple__":
            return tuple(self.decode(v) for v in value[tag])
        if tag == "__dict__":
            return {self._key(k): self.decode(v) for k, v in value[tag]}
        if tag == "__random_state__":
            return self.random_state(value)
        if tag == "__estimator__":
            cls = ESTIMATORS.get(value[tag])
            if cls is None:
                raise _DamagedFile(
                    f"{value[tag]!r} is not an estimator of this library"
                )
            return self.estimator(cls, value["state"])
        if tag == "__frozen__":
            return FrozenEstimator(self.decode(value[tag]))
        return self.params[value[tag]]  # __missing__, checked by load

    def _key(self, key):
        key = self.decode(key)
        if type(key) not in _PLAIN and type(key) is not tuple:
            raise _DamagedFile(f"a dict key is a {type(key).__name__}")
        return key

    def random_state(self, value: dict) -> np.random.RandomState:
        index = value["__random_state__"]
        if "state" not in value:
            return self._random_states[index]
        random_state = np.random.RandomState()
        random_state.set_state(self.decode(value["state"]))
        self._random_states[index] = random_state
        return random_state
