"""Sphinx configuration of the sklearn-contrastive documentation.

Modelled on scikit-learn-contrib/project-template's doc/conf.py: numpydoc for
the docstrings, autosummary for the API reference, sphinx-gallery for the
examples and the pydata theme. Build it with ``make docs``, which runs

    sphinx-build -W --keep-going -b html docs docs/_build/html

so that every warning is an error.
"""

import os
import zlib
from pathlib import Path

import sklearn_contrastive

DOCS_DIR = Path(__file__).resolve().parent

# -- Project -----------------------------------------------------------------

project = "sklearn-contrastive"
author = "sklearn-contrastive developers"
copyright = "sklearn-contrastive developers, BSD-3-Clause"
release = sklearn_contrastive.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "sphinx_copybutton",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    # sphinx-gallery's by-products next to the generated pages.
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.json",
]
default_role = "literal"
pygments_style = "sphinx"
# Code blocks without a language (messages and command lines in the Markdown
# pages and the changelog) are not Python; Python blocks name their language.
highlight_language = "text"

# -- autodoc, autosummary and numpydoc ----------------------------------------

# One page per public object under generated/ (git-ignored), from the
# templates in _templates/autosummary/ (class.rst, function.rst: the full
# docstring and the gallery examples that use the object).
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"

# numpydoc lists the methods and attributes in its own tables; autosummary's
# class template adds the method pages, so numpydoc must not add them twice.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Link the types in "Parameters" sections (``array-like of shape ...``) to
# their documentation where intersphinx knows them.
numpydoc_xref_param_type = True
# Only the words below become links; every other word of a type stays plain
# text (numpydoc_xref_ignore = "all"). Each link carries its own title, so that
# a target that cannot be resolved (an offline build, see intersphinx below)
# still reads "int", not "python:int". numpydoc's own defaults would use :term:
# and :ref: roles, which warn when unresolved.
numpydoc_xref_ignore = "all"
_PY = {
    name: f":class:`{name} <python:{name}>`"
    for name in ("int", "float", "str", "list", "tuple", "dict", "object", "bool")
}
numpydoc_xref_aliases = {
    **_PY,
    "string": ":class:`str <python:str>`",
    "boolean": ":class:`bool <python:bool>`",
    "None": ":data:`None <python:None>`",
    "True": ":data:`True <python:True>`",
    "False": ":data:`False <python:False>`",
    "callable": ":func:`callable <python:callable>`",
    "sequence": ":class:`sequence <python:collections.abc.Sequence>`",
    "iterable": ":class:`iterable <python:collections.abc.Iterable>`",
    "array-like": ":obj:`array-like <numpy.typing.ArrayLike>`",
    "array_like": ":obj:`array-like <numpy.typing.ArrayLike>`",
    "ndarray": ":class:`ndarray <numpy.ndarray>`",
    "numpy.ndarray": ":class:`numpy.ndarray`",
    "RandomState": ":class:`RandomState <numpy.random.RandomState>`",
    "numpy.random.Generator": ":class:`numpy.random.Generator`",
    "estimator": ":class:`estimator <sklearn.base.BaseEstimator>`",
    "Pipeline": ":class:`Pipeline <sklearn.pipeline.Pipeline>`",
    "DataFrame": ":class:`DataFrame <pandas.DataFrame>`",
    "torch.Tensor": ":class:`torch.Tensor`",
    "torch.nn.Module": ":class:`torch.nn.Module`",
    "torch.device": ":class:`torch.device`",
    "skorch.NeuralNet": ":class:`skorch.NeuralNet <skorch.net.NeuralNet>`",
    "Axes": ":class:`Axes <matplotlib.axes.Axes>`",
    "Figure": ":class:`Figure <matplotlib.figure.Figure>`",
    "Line2D": ":class:`Line2D <matplotlib.lines.Line2D>`",
    "Patch": ":class:`Patch <matplotlib.patches.Patch>`",
    "Colormap": ":class:`Colormap <matplotlib.colors.Colormap>`",
    "ContrastiveEmbedder": ":class:`~sklearn_contrastive.ContrastiveEmbedder`",
    "PairVerifier": ":class:`~sklearn_contrastive.PairVerifier`",
    "PairDistanceDisplay": ":class:`~sklearn_contrastive.plotting.PairDistanceDisplay`",
    "EmbeddingDisplay": ":class:`~sklearn_contrastive.plotting.EmbeddingDisplay`",
    "TrainingCurveDisplay": (
        ":class:`~sklearn_contrastive.plotting.TrainingCurveDisplay`"
    ),
}

# -- intersphinx, offline-safe ------------------------------------------------
#
# CI and the development machines reach no documentation site, and with -W the
# warning "failed to reach any of the inventories" would fail the build.
# Sphinx gives that warning no type, so suppress_warnings cannot silence it.
# Instead every mapping lists a second location: an empty inventory written
# below into docs/_build (git-ignored). Sphinx tries the site's objects.inv
# first and uses it when it is reachable (links to numpy, scikit-learn, ...
# work); when it is not, it falls back to the empty inventory and only logs
# the failure at INFO level: the build passes, and references to those
# projects are rendered as plain code instead of links (they are not
# warnings, as the build is not nitpicky). No environment variable is needed.
#
# SPHINX_INTERSPHINX=0 skips the remote attempts altogether (only the empty
# inventories are read); online, delete docs/_build first, or the empty
# inventories cached by an earlier offline build are reused until
# intersphinx_cache_limit (days) runs out.

_EMPTY_INVENTORY = DOCS_DIR / "_build" / "empty-objects.inv"
_EMPTY_INVENTORY.parent.mkdir(parents=True, exist_ok=True)
_EMPTY_INVENTORY.write_bytes(
    b"# Sphinx inventory version 2\n"
    b"# Project: none (offline fallback)\n"
    b"# Version: 0\n"
    b"# The remainder of this file is compressed using zlib.\n" + zlib.compress(b"")
)

_INTERSPHINX_SITES = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "sklearn": "https://scikit-learn.org/stable",
    "torch": "https://docs.pytorch.org/docs/stable",
    "skorch": "https://skorch.readthedocs.io/en/stable",
    "pandas": "https://pandas.pydata.org/docs",
    "matplotlib": "https://matplotlib.org/stable",
}
_online = os.environ.get("SPHINX_INTERSPHINX", "1") != "0"
intersphinx_mapping = {
    name: (url, ((None,) if _online else ()) + (str(_EMPTY_INVENTORY),))
    for name, url in _INTERSPHINX_SITES.items()
}
intersphinx_timeout = 10

# -- sphinx-gallery -----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Only plot_*.py are gallery items, and they are executed; the other
    # scripts in examples/ (demo.py, ...) are command-line scripts and are
    # skipped. ignore_pattern is matched against a file name or a full path.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(^|[\\/])(?!plot_)[^\\/]+\.py$",
    "within_subsection_order": "FileNameSortKey",
    # "Examples using ..." mini-galleries on the API pages.
    "doc_module": ("sklearn_contrastive",),
    "backreferences_dir": "generated/backreferences",
    "inspect_global_variables": False,
    "remove_config_comments": True,
    # A failing example fails the build (the default, spelled out).
    "only_warn_on_example_error": False,
    "min_reported_time": 1,
}

# -- myst-parser (design.md and the other Markdown pages) ----------------------

myst_enable_extensions = ["colon_fence"]
# design.md links to its own sections by their GitHub anchors (#threads).
myst_heading_anchors = 3

# -- HTML ----------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-contrastive {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"index": [], "design": []}
html_show_sourcelink = True
html_context = {"default_mode": "light"}

# Copy buttons skip the prompts of doctest-style blocks.
copybutton_prompt_text = r">>> |\.\.\. "
copybutton_prompt_is_regexp = True


# -- Hooks ---------------------------------------------------------------------


def _skip_metadata_request_methods(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_*_request`` methods.

    scikit-learn adds them to every estimator for metadata routing; their
    docstrings use scikit-learn's own glossary terms and labels, which do not
    resolve here.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def _check_doc_links(app, exception):
    """Fail the build when an estimator's HTML repr links to a page that the
    build did not make (``sklearn_contrastive._doc_links``)."""
    if exception is not None or app.builder.name != "html":
        return
    from sklearn_contrastive import ContrastiveEmbedder, PairVerifier
    from sklearn_contrastive._doc_links import DOCS_URL, docs_version

    base = DOCS_URL.format(version=docs_version(sklearn_contrastive.__version__))
    for estimator in (ContrastiveEmbedder(), PairVerifier(ContrastiveEmbedder())):
        page = estimator._get_doc_link().removeprefix(base)
        if not (Path(app.outdir) / page).is_file():
            raise RuntimeError(
                f"{type(estimator).__name__}'s HTML repr links to {page}, which "
                "the documentation build did not produce; update "
                "sklearn_contrastive/_doc_links.py or docs/api.rst."
            )


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request_methods)
    app.connect("build-finished", _check_doc_links)
