"""The whole shared suite, for the providers named in ``speechkit_providers`` (pyproject.toml)."""

from speechkit_conformance.suite import *  # noqa: F403
