"""The bundled sample corpora: reproducible by sample_corpora/generate.py and shaped as stated."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

CORPORA = Path(__file__).parent.parent / "sample_corpora"
NAMES = ("fables.txt", "words.txt", "longrange_france_gap50.txt", "sentiment.tsv", "tagged.conll")


def load_generator(name="generate.py"):
    spec = importlib.util.spec_from_file_location(name[:-3], CORPORA / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def readme_bullet(name):
    """The README's paragraph about one corpus, its lines joined."""
    text = (CORPORA / "README.md").read_text(encoding="utf-8")
    bullet = next(b for b in re.split(r"\n(?=- `)|\n\n(?=\S)", text) if b.startswith(f"- `{name}`"))
    return " ".join(bullet.split())


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """The corpora written by the script as a user runs it, under an unusual hash seed."""
    out = tmp_path_factory.mktemp("corpora")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    result = subprocess.run([sys.executable, str(CORPORA / "generate.py"), "--out", str(out)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("name", NAMES)
def test_generator_reproduces_committed_file(regenerated, name):
    assert (regenerated / name).read_bytes() == (CORPORA / name).read_bytes(), (
        f"{name} is stale: run python sample_corpora/generate.py")


def test_check_flag_fails_on_a_stale_file(regenerated, capsys):
    (regenerated / "words.txt").write_text("stale\n")
    assert load_generator().main(["--check", "--out", str(regenerated)]) == 1
    assert "words.txt" in capsys.readouterr().err


@pytest.mark.parametrize("name, low, high", [("fables.txt", 350_000, 450_000),
                                             ("words.txt", 600_000, 900_000),
                                             ("longrange_france_gap50.txt", 400_000, 600_000)])
def test_size_and_plain_ascii(name, low, high):
    data = (CORPORA / name).read_bytes()
    assert low <= len(data) <= high
    assert data.isascii()
    assert b"\r" not in data and b"\t" not in data


def test_fables_read_like_a_book():
    text = (CORPORA / "fables.txt").read_text(encoding="ascii")
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    text_lines = [line for line in lines if line]
    assert sum(len(line) > 60 for line in text_lines) > len(text_lines) // 3  # wrapped paragraphs
    titles = [line for line in lines if re.fullmatch(r"[A-Z][-A-Z ,]+\.", line)]
    assert len(titles) >= 100  # one title line per story
    assert "\n\n" in text and text.count('"') % 2 == 0
    assert re.search(r'," said [A-Z]?[a-z]', text) and "?" in text and "!" in text


def test_words_one_tokenised_lowercase_sentence_per_line():
    text = (CORPORA / "words.txt").read_text(encoding="ascii")
    assert text.endswith("\n")
    lines = text.splitlines()
    assert all(line and line == line.lower() for line in lines)
    assert all(line.split(" ") == line.split() for line in lines)  # single spaces only
    assert all(line.split()[-1] in {".", "?"} for line in lines)
    counts = Counter(text.split())
    assert 2_000 <= len(counts) <= 5_000
    ranked = sorted(counts.values(), reverse=True)
    assert ranked[0] > 20 * ranked[len(ranked) // 2]  # Zipf-like: a few words dominate
    assert sum(c <= 3 for c in ranked) > len(ranked) // 10  # ... above a long tail of rare ones


def test_longrange_lines_are_france_examples_with_a_gap_of_50():
    from seqtool.text.longrange import LANGUAGES, find_probes

    lines = (CORPORA / "longrange_france_gap50.txt").read_text(encoding="ascii").splitlines()
    examples = [find_probes("france", line) for line in lines]
    assert len(lines) == 1500 and all(ex is not None and ex.text == line for ex, line in zip(examples, lines))
    assert {ex.distance for ex in examples} == {54}  # 50 filler words + 4
    answers = Counter(ex.probes[0][1] for ex in examples)
    assert set(answers) == set(LANGUAGES) and max(answers.values()) < 2 * min(answers.values())  # near uniform: chance 1/12


# --------------------------------------------------------------------------- sentiment.tsv


@pytest.fixture(scope="module")
def sentiment():
    lines = (CORPORA / "sentiment.tsv").read_text(encoding="ascii").splitlines()
    return [(label, text.split(" ")) for label, text in (line.split("\t") for line in lines)]


@pytest.fixture(scope="module")
def lexicon():
    module = load_generator("sentiment.py")
    polarity = dict.fromkeys(module.POSITIVE, 0) | dict.fromkeys(module.NEGATIVE, 1)
    assert not set(module.POSITIVE) & set(module.NEGATIVE)
    return polarity, set(module.NEGATORS)


def deciding_clause(tokens):
    """The README's rule 3 as (start, end): 'A , but B', 'although A , B' -> B; 'A , although B' -> A."""
    if "but" in tokens:
        return len(tokens) - tokens[::-1].index("but"), len(tokens)
    if tokens[0] == "although":
        return tokens.index(",") + 1, len(tokens)
    return 0, tokens.index("although") if "although" in tokens else len(tokens)


def rule_label(tokens, polarity, negators):
    """Rules 1-4: the first sentiment word of the deciding part, flipped by a negator before it in its
    clause. Returns the label, whether it was flipped, and how many tokens follow the deciding word."""
    start, end = deciding_clause(tokens)
    at = next(i for i in range(start, end) if tokens[i] in polarity)
    clause = max((i + 1 for i in range(start, at) if tokens[i] == ","), default=start)
    negated = any(w in negators for w in tokens[clause:at])
    return ("pos", "neg")[polarity[tokens[at]] ^ negated], negated, len(tokens) - at - 1


def test_sentiment_is_balanced_lowercase_label_tab_text(sentiment):
    data = (CORPORA / "sentiment.tsv").read_bytes()
    assert 300_000 <= len(data) <= 400_000 and data.isascii() and data.endswith(b".\n")
    assert data.count(b"\t") == data.count(b"\n") == 3000  # one tab a line
    labels = Counter(label for label, _ in sentiment)
    assert labels == {"pos": 1500, "neg": 1500}
    assert all(tokens[-1] == "." and all(t and t == t.lower() for t in tokens) for _, tokens in sentiment)
    bullet = readme_bullet("sentiment.tsv")
    assert "3,000 lines" in bullet and "1,500 `pos`" in bullet and "1,500 `neg`" in bullet


def test_sentiment_labels_follow_the_readme_rules(sentiment, lexicon):
    polarity, negators = lexicon
    for label, tokens in sentiment:
        assert 1 <= sum(w in polarity for w in tokens) <= 2, tokens  # one or two judgements
        assert rule_label(tokens, polarity, negators)[0] == label, " ".join(tokens)
    two = sum(sum(w in polarity for w in tokens) == 2 for _, tokens in sentiment)
    but, although = (sum(word in tokens for _, tokens in sentiment) for word in ("but", "although"))
    bullet = readme_bullet("sentiment.tsv")
    assert f"{two:,} lines hold two" in bullet and f"{but:,} lines use `but`, {although:,} `although`" in bullet


def test_sentiment_needs_word_order_not_a_bag_of_words(sentiment, lexicon):
    polarity, negators = lexicon
    n = len(sentiment)
    votes = [sum(1 - 2 * polarity[w] for w in tokens if w in polarity) for _, tokens in sentiment]
    bag = sum(("pos" if v >= 0 else "neg") == label for v, (label, _) in zip(votes, sentiment))  # a tie: pos
    last = sum(("pos", "neg")[[polarity[w] for w in t if w in polarity][-1]] == y for y, t in sentiment)
    assert bag < 0.7 * n and last < 0.7 * n  # counting words or trusting the last one is not enough
    ruled = [rule_label(t, polarity, negators) for _, t in sentiment]
    early, flipped = sum(after >= 15 for _, _, after in ruled), sum(negated for _, negated, _ in ruled)
    assert early >= 800 and flipped >= 800  # the cue far from the end for --pool last; negation common
    bullet = readme_bullet("sentiment.tsv")
    assert f"{early:,} lines" in bullet and f"{flipped:,} lines" in bullet
    assert f"{round(100 * bag / n)}%" in bullet and f"{round(100 * last / n)}%" in bullet


def test_sentiment_reads_as_a_classify_corpus():
    from seqtool.tasks.formats import read_labelled

    data = read_labelled(CORPORA / "sentiment.tsv")
    assert (data.format, len(data.texts), set(data.labels)) == ("tsv", 3000, {"pos", "neg"})
    assert data.texts[0].endswith(" .") and "\t" not in data.texts[0]


# --------------------------------------------------------------------------- tagged.conll


@pytest.fixture(scope="module")
def tagged():
    text = (CORPORA / "tagged.conll").read_text(encoding="ascii")
    head, _, body = text.partition("\n\n")
    assert head == "-DOCSTART- -X- O" and text.endswith("\n") and not text.endswith("\n\n")
    return [[tuple(line.split(" ")) for line in block.split("\n")] for block in body.rstrip("\n").split("\n\n")]


def test_tagged_has_three_columns_and_the_stated_counts(tagged):
    data = (CORPORA / "tagged.conll").read_bytes()
    assert 400_000 <= len(data) <= 600_000 and data.isascii() and b"\t" not in data
    rows = [row for sentence in tagged for row in sentence]
    assert all(len(row) == 3 and all(row) for row in rows)
    assert all(s[-1][0] in {".", "?"} and s[-1][1:] == ("PUNCT", "O") for s in tagged)
    entities = Counter(ner[2:] for _, _, ner in rows if ner.startswith("B-"))
    bullet = readme_bullet("tagged.conll")
    assert f"{len(tagged):,} sentences" in bullet and f"{len(rows):,} tokens" in bullet
    assert all(f"{entities[kind]:,} {kind}" in bullet for kind in ("PER", "LOC", "ORG", "TIME"))
    assert len(tagged) == 3500


def test_tagged_tag_sets_and_iob2(tagged):
    module = load_generator("tagged.py")
    rows = [row for sentence in tagged for row in sentence]
    assert {pos for _, pos, _ in rows} == set(module.POS_TAGS)
    assert {ner for _, _, ner in rows} == {"O"} | {f"{b}-{k}" for b in "BI" for k in module.ENTITY_TYPES}
    for sentence in tagged:
        previous = "O"
        for _, _, ner in sentence:  # IOB2: I-X only continues B-X or I-X
            assert not ner.startswith("I-") or previous[2:] == ner[2:], sentence
            previous = ner
    multiword = Counter(sentence[i][2][2:] for sentence in tagged for i in range(len(sentence) - 1)
                        if sentence[i][2].startswith("B-") and sentence[i + 1][2].startswith("I-"))
    assert min(multiword[k] for k in module.ENTITY_TYPES) >= 300


def test_tagged_words_need_their_context(tagged):
    pos, kinds = {}, {}
    for word, tag, ner in (row for sentence in tagged for row in sentence):
        pos.setdefault(word, set()).add(tag)
        if ner != "O":
            kinds.setdefault(word, set()).add(ner[2:])
    noun_verb = sum({"NOUN", "VERB"} <= tags for tags in pos.values())  # "the saw" / "she saw"
    names = sum(len(k) >= 2 for k in kinds.values())  # a person here, a place there
    assert noun_verb >= 15 and names >= 100
    assert {"DET", "SCONJ", "PRON"} <= pos["that"] and {"ADP", "PART"} <= pos["to"] and {"AUX", "VERB"} <= pos["had"]
    assert {"PER", "TIME"} <= kinds["May"] and "AUX" in pos["may"] and {"PROPN", "NOUN"} <= pos["Holly"]
    bullet = readme_bullet("tagged.conll")
    assert f"{noun_verb:,} word forms are NOUN" in bullet and f"{names:,} names" in bullet


def test_tagged_reads_as_a_tag_corpus(tagged):
    from seqtool.tasks.formats import read_tagged

    ner = read_tagged(CORPORA / "tagged.conll")
    upos = read_tagged(CORPORA / "tagged.conll", tag_column=1)
    assert ner.format == "conll" and ner.tokens == [[row[0] for row in s] for s in tagged]
    assert ner.tags == [[row[2] for row in s] for s in tagged] and upos.tags == [[row[1] for row in s] for s in tagged]
