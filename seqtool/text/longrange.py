"""Text with controlled long-range dependencies: one token that only an earlier token predicts.

This module's job is to write (and read back) lines in which one *dependent* token can be
predicted only from a *cue* token many steps earlier, with a chosen number of unrelated filler
tokens in between. It makes the lecture's "I grew up in France ... I speak fluent French" a
measurable task: a language model that keeps the cue across the gap predicts the dependent token
far above chance; one that has forgotten it can do no better than chance (the answers are drawn
uniformly, so nothing else in the line gives them away).

Three tasks, each one line per example, lowercase words separated by single spaces and no
punctuation (so seqtool's word tokenizer with the default Keras filters sees exactly these words):

    france     i grew up in <country> <filler x gap> i speak fluent <language>
    agreement  the <noun or nouns> <filler x gap> <is|are> <ending>
    copy       remember <s1 s2 s3> <filler x gap> recall <s1 s2 s3>

``gap`` is the exact number of filler words between the end of the cue clause and the start of
the clause holding the dependent token. Filler words come from a fixed list that shares no word
with any cue, answer or template word. A probe's distance in tokens from its cue is
``gap + OFFSET[task]``: gap + 4 for france (country -> language), gap + 1 for agreement (noun ->
verb), gap + 4 for copy (each remembered symbol -> its recalled copy).

Only the standard library is used, so ``sample_corpora/generate.py`` can load this file by path.
Randomness comes from ``random.Random(seed)`` choosing from tuples, so PYTHONHASHSEED and set
ordering cannot change the output.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

try:
    from seqtool.errors import UsageError
except ImportError:  # loaded by file path, outside the package (sample_corpora/generate.py)
    UsageError = ValueError  # type: ignore[misc,assignment]

TASKS = ("france", "agreement", "copy")

#: probe index - cue index = gap + OFFSET[task]
OFFSET = {"france": 4, "agreement": 1, "copy": 4}

# (country, language): the answer set is the languages, each drawn with probability 1/12.
COUNTRIES = (
    ("france", "french"), ("germany", "german"), ("spain", "spanish"), ("italy", "italian"),
    ("portugal", "portuguese"), ("greece", "greek"), ("poland", "polish"), ("sweden", "swedish"),
    ("norway", "norwegian"), ("finland", "finnish"), ("japan", "japanese"), ("china", "chinese"),
)
LANGUAGES = tuple(lang for _, lang in COUNTRIES)
_LANGUAGE_OF = dict(COUNTRIES)

# (singular, plural): the subject's number decides is/are after the gap.
NOUNS = (
    ("dog", "dogs"), ("cat", "cats"), ("bird", "birds"), ("horse", "horses"), ("child", "children"),
    ("man", "men"), ("woman", "women"), ("mouse", "mice"), ("fox", "foxes"), ("key", "keys"),
    ("teacher", "teachers"), ("farmer", "farmers"),
)
VERBS = ("is", "are")  # singular, plural
ENDINGS = ("here", "there", "ready", "asleep", "outside", "away", "late", "hungry")
_NUMBER_OF = {form: number for pair in NOUNS for number, form in enumerate(pair)}  # 0 singular, 1 plural

SYMBOLS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "omega")
COPY_LENGTH = 3  # symbols remembered and recalled per line

FRANCE_HEAD = ("i", "grew", "up", "in")
FRANCE_TAIL = ("i", "speak", "fluent")

# Unrelated words for the gap: plain English, none of them a cue, answer or template word.
FILLER = tuple("""
apple river stone window garden paper orange yellow quiet early table bridge summer winter basket
candle letter market silver gentle rapid narrow bottle forest meadow island valley pencil ladder
kettle button ribbon carpet blanket pillow mirror shadow thunder cloud rain snow wind storm sunny
cold warm bright dark soft loud small large round sharp heavy light sweet bitter fresh old new tall
short wide deep green purple golden wooden empty busy lazy clever happy sad brave calm wild tame
slow fast open close carry lift paint build cook bake sing dance jump walk run swim climb read
write draw count wash fold sweep plant water travel wander listen whisper laugh smile sleep dream
rest wait often always never sometimes quickly slowly softly gladly nearby above below behind
beside under over after before during until while again almost maybe perhaps indeed rather quite
very boat road hill lake field fence chair spoon plate cup bread cheese milk honey salt pepper
""".split())


@dataclass(frozen=True)
class Example:
    """One line of a task and where its dependent tokens are.

    text: the line, lowercase words joined by single spaces.
    probes: (word index, expected word) of each dependent token (one, or three for copy).
    choices: the candidates for a dependent token, each equally likely: chance = 1 / len(choices).
    cue: word index of the token the (first) probe depends on; in copy the j-th recalled symbol
        depends on the word at ``cue + j``.
    """

    text: str
    probes: tuple[tuple[int, str], ...]
    choices: tuple[str, ...]
    cue: int

    @property
    def distance(self) -> int:
        """Tokens from each cue to its dependent token: gap + OFFSET[task]."""
        return self.probes[0][0] - self.cue


def check(task: str, gap: int = 0, n: int = 1) -> None:
    """Raise UsageError (exit 2) naming the first invalid value."""
    if task not in TASKS:
        raise UsageError(f"unknown long-range task {task!r}; choose one of {', '.join(TASKS)}")
    if isinstance(gap, bool) or not isinstance(gap, int) or gap < 0:
        raise UsageError(f"--gap {gap!r}: must be a whole number of filler tokens, 0 or more")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UsageError(f"--lines {n!r}: must be at least 1")


def choices(task: str) -> tuple[str, ...]:
    """The candidate answers of ``task``'s dependent token."""
    check(task)
    return {"france": LANGUAGES, "agreement": VERBS, "copy": SYMBOLS}[task]


def chance(task: str) -> float:
    """Accuracy of a model that has forgotten the cue: 1 / number of equally likely answers."""
    return 1.0 / len(choices(task))


def distance(task: str, gap: int) -> int:
    """Tokens from cue to dependent token in a line of ``task`` with ``gap`` filler words."""
    check(task, gap)
    return gap + OFFSET[task]


#: The most memory make-corpus may use: the lines' text, the file's text and its bytes (3 copies).
MAX_CORPUS_MEMORY = 2 << 30


def check_size(task: str, gap: int, n: int) -> None:
    """Refuse (UsageError) a corpus that would not fit in MAX_CORPUS_MEMORY, before building it."""
    from seqtool.memory import human_bytes, refuse_if_over

    check(task, gap, n)
    per_word = sum(len(w) + 1 for w in FILLER) / len(FILLER)
    size = int(n * ((gap + OFFSET[task] + 2 * COPY_LENGTH) * per_word + 1))  # about, as text
    refuse_if_over(3 * size, MAX_CORPUS_MEMORY, f"--gap {gap:,} with --lines {n:,}", f"about {human_bytes(size)} of text, held 3 times",
                   "make-corpus's bound", fixes=("lower --gap or --lines",), kind=UsageError)


def generate(task: str, gap: int, n: int, seed: int = 0) -> list[Example]:
    """``n`` lines of ``task`` with exactly ``gap`` filler words each, the same for the same seed."""
    check(task, gap, n)
    rng = random.Random(seed)
    make = {"france": _france, "agreement": _agreement, "copy": _copy}[task]
    return [make(rng, gap) for _ in range(n)]


def _filler(rng: random.Random, gap: int) -> list[str]:
    return [rng.choice(FILLER) for _ in range(gap)]


def _france(rng: random.Random, gap: int) -> Example:
    country, language = rng.choice(COUNTRIES)
    words = [*FRANCE_HEAD, country, *_filler(rng, gap), *FRANCE_TAIL, language]
    return Example(" ".join(words), ((len(words) - 1, language),), LANGUAGES, len(FRANCE_HEAD))


def _agreement(rng: random.Random, gap: int) -> Example:
    number = rng.randrange(2)
    noun = rng.choice(NOUNS)[number]
    verb = VERBS[number]
    words = ["the", noun, *_filler(rng, gap), verb, rng.choice(ENDINGS)]
    return Example(" ".join(words), ((len(words) - 2, verb),), VERBS, 1)


def _copy(rng: random.Random, gap: int) -> Example:
    symbols = [rng.choice(SYMBOLS) for _ in range(COPY_LENGTH)]  # with replacement: each 1/8
    words = ["remember", *symbols, *_filler(rng, gap), "recall", *symbols]
    start = len(words) - COPY_LENGTH
    return Example(" ".join(words), tuple((start + j, s) for j, s in enumerate(symbols)), SYMBOLS, 1)


def find_probes(task: str, line: str) -> Example | None:
    """The Example a line of ``task`` (as ``generate`` writes it) stands for, or None if it is not one.

    A line matches when its fixed words are in place and its dependent token is the one its cue
    calls for; the gap may hold any words. ``find_probes(t, e.text) == e`` for every generated ``e``.
    """
    check(task)
    words = line.split()
    text = " ".join(words)
    if task == "france":
        head, tail = len(FRANCE_HEAD), len(FRANCE_TAIL)
        if (len(words) < head + tail + 2 or tuple(words[:head]) != FRANCE_HEAD
                or tuple(words[-tail - 1:-1]) != FRANCE_TAIL or _LANGUAGE_OF.get(words[head]) != words[-1]):
            return None
        return Example(text, ((len(words) - 1, words[-1]),), LANGUAGES, head)
    if task == "agreement":
        if (len(words) < 4 or words[0] != "the" or words[1] not in _NUMBER_OF or words[-1] not in ENDINGS
                or words[-2] != VERBS[_NUMBER_OF[words[1]]]):
            return None
        return Example(text, ((len(words) - 2, words[-2]),), VERBS, 1)
    k = COPY_LENGTH
    symbols = words[1:1 + k]
    if (len(words) < 2 * k + 2 or words[0] != "remember" or words[-k - 1] != "recall"
            or words[-k:] != symbols or any(s not in SYMBOLS for s in symbols)):
        return None
    start = len(words) - k
    return Example(text, tuple((start + j, s) for j, s in enumerate(symbols)), SYMBOLS, 1)
