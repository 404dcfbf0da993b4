"""Model backends: a registry from a ``--model`` spec string to a backend.

One module per backend in this package registers its model class with ``@backend(...)``
(:mod:`depthbench.baselines.backends._base`); the registry finds the modules by scanning
the package, so **adding a backend is adding a file**. The table feeds ``--model`` help
(``eval``, ``doctor``), the spec error message, ``depthbench doctor``, the submission's
``endpoint.kind`` and the submission JSON Schema. Heavy client libraries (httpcore,
llama-cpp-python) are imported inside the backend when a model is created, so listing the
table costs nothing.

Spec forms (``depthbench --help``)
----------------------------------
``openai:MODEL``
    Any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, OpenAI). Base URL from
    ``base_url`` or ``OPENAI_BASE_URL``; key from ``api_key`` or ``OPENAI_API_KEY``.
``llamacpp:smollm2`` / ``llamacpp:/path/model.gguf``
    llama-cpp-python in process (extra ``depthbench[llamacpp]``).
``simulated`` / ``simulated:eps=0.02,tokens_per_step=12,spread=3,drift=0.0,rho=0.0``
    The simulated step-wise reasoner.
``replay:FILE.jsonl``
    Serve completions recorded elsewhere.
"""

from depthbench._lazy import lazy_exports

# the registry (and the HTTP helpers it uses) only on first use: the call context imports this
# package's `_continuation` and `_tokenizer`, which must not load it (`depthbench strategies`)
__getattr__, __dir__ = lazy_exports(__name__, {
    "depthbench.baselines.backends._registry": (
        "Backend", "BadSpec", "backend", "backends", "get_backend", "model_spec_forms", "parse_model_spec",
        "load_model", "endpoint_kind", "unregister", "check_model_args", "check_model_spec", "option_types",
        "redact_secrets", "redact_argv", "registry", "_OWN_FLAGS",
    ),
})

__all__ = ["Backend", "BadSpec", "backend", "backends", "get_backend", "model_spec_forms", "parse_model_spec", "load_model",
           "endpoint_kind", "unregister", "check_model_args", "check_model_spec", "option_types", "redact_secrets", "redact_argv"]
