"""Where the documentation lives: the API page each estimator's HTML repr
links to (scikit-learn's ``_doc_link_*`` hooks)."""

from __future__ import annotations

#: The documentation's address; ``{version}`` is ``latest`` for a
#: development version, ``stable`` for a release.
DOCS_URL = "https://sklearn-contrastive.readthedocs.io/en/{version}/"


def docs_version(version: str) -> str:
    """The documentation version that describes the package ``version``."""
    return "latest" if "dev" in version else "stable"


class DocLinkMixin:
    """Link the estimator's HTML repr (the "?" icon in Jupyter) to its page
    of the API reference, ``generated/sklearn_contrastive.<Name>.html``, as
    ``docs/api.rst`` generates it (every estimator is public at the top)."""

    _doc_link_module = "sklearn_contrastive"

    @property
    def _doc_link_template(self) -> str:
        from . import __version__  # set after the package's imports

        base = DOCS_URL.format(version=docs_version(__version__))
        return base + "generated/sklearn_contrastive.{estimator_name}.html"

    def _doc_link_url_param_generator(self) -> dict:
        return {"estimator_name": type(self).__name__}
