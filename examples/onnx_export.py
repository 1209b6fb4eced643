"""A scaler, the embedder and a 5-NN classifier as one ONNX graph, run without torch.

Not a gallery example (it needs the optional extra and writes a file): run it
by hand,

    pip install "sklearn-contrastive[onnx]"
    python examples/onnx_export.py                 # writes digits_knn.onnx
    python examples/onnx_export.py model.onnx      # or the path given

The pipeline is trained on the digits, converted by skl2onnx (after
``register_converter``, which teaches skl2onnx the embedder), saved, and
run in a fresh Python process that cannot import torch: the labels are
those of ``pipeline.predict``, and the embeddings those of ``transform``
to float32 rounding.
"""

import io
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import onnxruntime
import skl2onnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive.onnx import register_converter, to_onnx

# onnxruntime alone, in a process where `import torch` fails.
_PREDICT = textwrap.dedent(
    """
    import io, sys
    sys.modules["torch"] = None
    import numpy as np
    import onnxruntime
    session = onnxruntime.InferenceSession(sys.argv[1])
    X = np.load(io.BytesIO(sys.stdin.buffer.read()))
    np.save(sys.stdout.buffer, session.run(["label"], {"X": X})[0])
    """
)


def main(path="digits_knn.onnx"):
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    pipe = make_pipeline(
        StandardScaler(), ContrastiveEmbedder(random_state=0), KNeighborsClassifier()
    ).fit(X_train, y_train)

    register_converter()
    # X_train[:1] gives the input's type and width; zipmap=False returns the
    # probabilities as an array rather than a list of dicts.
    model = skl2onnx.to_onnx(pipe, X_train[:1], options={"zipmap": False})
    onnx.save(model, path)
    print(f"wrote {path}: {len(model.SerializeToString()):,} bytes")

    # The pipeline in onnxruntime, here: labels and probabilities.
    session = onnxruntime.InferenceSession(path)
    labels, probabilities = session.run(None, {"X": X_test})
    print(f"labels equal to predict: {np.array_equal(labels, pipe.predict(X_test))}")
    difference = np.abs(probabilities - pipe.predict_proba(X_test)).max()
    print(f"max |probabilities - predict_proba|: {difference:.1e}")

    # The embedder alone: its network, exported by torch.onnx, on scaled rows.
    scaled = pipe[0].transform(X_test).astype(np.float32)
    network = onnxruntime.InferenceSession(to_onnx(pipe[1]).SerializeToString())
    embeddings = network.run(None, {"X": scaled})[0]
    difference = np.abs(embeddings - pipe[1].transform(scaled)).max()
    print(f"max |embeddings - transform|: {difference:.1e}")

    # The saved graph in a process without torch.
    rows = io.BytesIO()
    np.save(rows, X_test)
    done = subprocess.run(
        [sys.executable, "-c", _PREDICT, path],
        input=rows.getvalue(),
        capture_output=True,
        check=True,
    )
    labels = np.load(io.BytesIO(done.stdout))
    accuracy = (labels == y_test).mean()
    print(f"without torch: same labels {np.array_equal(labels, pipe.predict(X_test))}")
    print(f"5-NN test accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
