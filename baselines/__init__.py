"""Model backends, the evaluation runner and the reference test-time strategies.

Backends are created from a ``--model`` spec with :func:`load_model`; each implements the
:class:`Model` protocol (``async generate(Request) -> Response``).
"""

from depthbench.baselines._models import MODEL_SPEC_FORMS, load_model, parse_model_spec
from depthbench.baselines._protocol import (
    FINISH_REASONS,
    TOKEN_SOURCES,
    BackendError,
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
    "BackendError",
    "TOKEN_SOURCES",
    "FINISH_REASONS",
]

# Budgets, call context, strategies and the runner (issue 5 / issue 4 item 6).
from depthbench.baselines._budget import Budget, BudgetExceededError, BudgetExhausted  # noqa: E402
from depthbench.baselines._context import CallContext, call_key, derive_seed  # noqa: E402
from depthbench.baselines._runner import EvalConfig, run_eval  # noqa: E402
from depthbench.baselines.strategies import Strategy, list_strategies  # noqa: E402
from depthbench.baselines.strategies import parse as parse_strategy  # noqa: E402

__all__ += [
    "Budget",
    "BudgetExceededError",
    "BudgetExhausted",
    "CallContext",
    "call_key",
    "derive_seed",
    "EvalConfig",
    "run_eval",
    "Strategy",
    "list_strategies",
    "parse_strategy",
]
