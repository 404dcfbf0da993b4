"""Model backends, the evaluation runner and the reference test-time strategies.

Backends are created from a ``--model`` spec with :func:`load_model`; each implements the
:class:`Model` protocol (``async generate(Request) -> Response``).
"""

from depthbench.baselines._models import MODEL_SPEC_FORMS, load_model, parse_model_spec
from depthbench.baselines._protocol import (
    FINISH_REASONS,
    TOKEN_SOURCES,
    Capabilities,
    Choice,
    Model,
    Request,
    Response,
)

__all__ = [
    "load_model",
    "parse_model_spec",
    "MODEL_SPEC_FORMS",
    "Request",
    "Choice",
    "Response",
    "Model",
    "Capabilities",
    "TOKEN_SOURCES",
    "FINISH_REASONS",
]
