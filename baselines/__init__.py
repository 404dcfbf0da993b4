"""Model backends, the evaluation runner and the reference test-time strategies.

Backends are created from a ``--model`` spec with :func:`load_model` (the backend registry,
:mod:`depthbench.baselines.backends`); each implements the :class:`Model` protocol
(``async generate(Request) -> Response``). Strategies come from the strategy registry
(:mod:`depthbench.baselines.strategies`), call roles from :mod:`depthbench.baselines._roles`.
:func:`run_eval` and :class:`EvalConfig` are imported on first use (``depthbench._lazy.lazy_exports``).
"""

from depthbench._lazy import lazy_exports
from depthbench.baselines._budget import Budget, BudgetExceededError, BudgetExhausted
from depthbench.baselines._context import CallContext, call_key, derive_seed
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
from depthbench.baselines._roles import Role, roles
from depthbench.baselines.strategies import Strategy, list_strategies
from depthbench.baselines.strategies import parse as parse_strategy

# the runner (tasks, pre-flight, progress) only on first use: `depthbench strategies` needs none of it
# nor the backend registry (its HTTP helpers, the spec forms)
__getattr__, __dir__ = lazy_exports(__name__, {
    "depthbench.baselines._runner": ("EvalConfig", "run_eval"),
    "depthbench.baselines.backends._registry": ("backends", "get_backend", "load_model", "model_spec_forms",
                                                "parse_model_spec"),
})

__all__ = [
    "load_model",
    "parse_model_spec",
    "model_spec_forms",
    "backends",
    "get_backend",
    "Request",
    "Choice",
    "Response",
    "Model",
    "Capabilities",
    "BackendError",
    "TOKEN_SOURCES",
    "FINISH_REASONS",
    "Budget",
    "BudgetExceededError",
    "BudgetExhausted",
    "CallContext",
    "call_key",
    "derive_seed",
    "EvalConfig",
    "run_eval",
    "Role",
    "roles",
    "Strategy",
    "list_strategies",
    "parse_strategy",
]
