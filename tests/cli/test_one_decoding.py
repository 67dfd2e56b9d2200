"""One decoding of tags: ``predict`` prints, ``eval`` scores and ``SequenceTagger.decode`` returns the same tag
sequences for the same run, with a softmax output and with a CRF (Viterbi)."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from tests.cli.helpers import run

TINY = ["--hidden", "8", "--embed-dim", "6", "--layers", "1", "--batch-size", "8", "--max-steps", "3", "--eval-every", "3",
        "--threads", "1", "--quiet"]


def _sentences(rng, n):
    words = ["Ana", "Bob", "saw", "the", "cat", "in", "Lyon", "met"]
    return [rng.choices(words, k=rng.randint(1, 7)) for _ in range(n)]


def _conll(sents, tag):
    return "\n\n".join("\n".join(f"{w} {tag(w)}" for w in s) for s in sents) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("crf", [False, True])
def test_predict_eval_and_decode_give_the_same_tags(tmp_path, crf):
    from seqtool.task_runs import load_task_model, score_examples
    from seqtool.tasks.batches import TaskData

    rng = random.Random(3)
    tag = lambda w: "B-PER" if w in ("Ana", "Bob") else "B-LOC" if w == "Lyon" else "O"
    (tmp_path / "t.conll").write_text(_conll(_sentences(rng, 40), tag))
    out = tmp_path / "run"
    r = run("train", tmp_path / "t.conll", "--task", "tag", *(["--crf"] if crf else []), *TINY, "--out", out)
    assert r.exit_code == 0, r.output
    sents = _sentences(rng, 12) + [["Zed", "visited", "Lyon"]]  # unseen words too
    (tmp_path / "s.txt").write_text("".join(" ".join(s) + "\n" for s in sents))
    p = run("predict", out, tmp_path / "s.txt", "--json")
    assert p.exit_code == 0, p.output
    printed = [json.loads(x)["tags"] for x in p.stdout.splitlines()]
    loaded = load_task_model(out, "cpu")
    assert (loaded.model.crf is not None) == crf
    scored, *_ = score_examples(loaded, sents, [[tag(w) for w in s] for s in sents], "s.conll", batch_size=4)
    names = loaded.spec.labels
    assert printed == [[names[t] for t in path] for path in scored.predictions]
    for sent, got in zip(sents, printed):  # each sentence alone, through the model's own decode
        ids = loaded.tokenizer.encode_lines(" ".join(sent))[0].astype(np.int64)
        b = TaskData([ids], [np.zeros(len(ids), np.int64)], "tag").batch(np.array([0]))
        assert got == [names[t] for t in loaded.model.decode(b.ids, b.lengths)[0]]
    assert len({tuple(t) for t in printed}) > 1  # the check is not on one constant answer
