"""Collection settings for the doctests of the package (``--doctest-modules``).

The examples of ``sklearn_contrastive/onnx.py`` run onnxruntime and skl2onnx,
the optional extra ``onnx``: without it, the module's doctests are not
collected (``tests/test_onnx.py`` skips itself the same way).
"""

import importlib.util

_ONNX_EXTRA = ("onnx", "onnxruntime", "onnxscript", "skl2onnx")

collect_ignore = []
if any(importlib.util.find_spec(name) is None for name in _ONNX_EXTRA):
    collect_ignore.append("sklearn_contrastive/onnx.py")
