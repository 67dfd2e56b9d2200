"""Pretrained vectors: format detection, coverage, copying into the embedding, freezing, bad files."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqtool.errors import ConfigError
from seqtool.models import ModelConfig, build_model, load_pretrained_vectors

torch.set_num_threads(1)

VECTORS = {
    "the": [0.1, 0.2, 0.3, 0.4],
    "cat": [-1.0, 0.5, 2.25, 3.0],
    "paris": [7.0, -7.0, 0.125, 1e-3],
}
TOKENS = ["<pad>", "The", "cat", "dog", "Paris", "zebra"]  # "The"/"Paris" only match lowercased


def _text_lines():
    return [f"{w} " + " ".join(repr(v) for v in vec) for w, vec in VECTORS.items()]


def _write_w2v_text(path):
    path.write_text(f"{len(VECTORS)} 4\n" + "\n".join(_text_lines()) + "\n", encoding="utf-8")
    return path


def _write_glove(path):
    path.write_text("\n".join(_text_lines()) + "\n", encoding="utf-8")
    return path


def _write_w2v_binary(path, newline=True, vectors=VECTORS):
    with open(path, "wb") as f:
        f.write(f"{len(vectors)} 4\n".encode())
        for w, vec in vectors.items():
            f.write(w.encode() + b" " + np.asarray(vec, dtype="<f4").tobytes() + (b"\n" if newline else b""))
    return path


@pytest.mark.parametrize(
    "writer, fmt",
    [
        (_write_w2v_text, "word2vec-text"),
        (_write_glove, "glove"),
        (_write_w2v_binary, "word2vec-binary"),
        (lambda p: _write_w2v_binary(p, newline=False), "word2vec-binary"),
    ],
)
def test_formats_are_detected_and_vectors_read(tmp_path, writer, fmt):
    path = writer(tmp_path / "vectors.txt")
    matrix, coverage = load_pretrained_vectors(path, TOKENS, 4)
    assert coverage["format"] == fmt and coverage["dim"] == 4
    assert matrix.shape == (6, 4) and matrix.dtype == np.float32
    assert coverage["found"] == 3 and coverage["total"] == 6
    assert coverage["missing_examples"] == ["<pad>", "dog", "zebra"]
    np.testing.assert_array_equal(matrix[1], np.float32(VECTORS["the"]))  # via lowercase fallback
    np.testing.assert_array_equal(matrix[2], np.float32(VECTORS["cat"]))
    np.testing.assert_array_equal(matrix[4], np.float32(VECTORS["paris"]))
    np.testing.assert_array_equal(matrix[0], np.zeros(4, np.float32))  # padding id 0
    for row in (3, 5):  # missing: small, random, not zero
        assert 0 < np.abs(matrix[row]).max() < 1.0


def test_exact_match_wins_over_lowercase_and_missing_rows_are_seeded(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("The 1 1\nthe 2 2\nthe 3 3\n", encoding="utf-8")  # and the first "the" wins
    m, cov = load_pretrained_vectors(path, ["<pad>", "The", "THE", "x"], None)
    np.testing.assert_array_equal(m[1], [1, 1])
    np.testing.assert_array_equal(m[2], [2, 2])
    assert cov["found"] == 2
    again, _ = load_pretrained_vectors(path, ["<pad>", "The", "THE", "x"], None)
    np.testing.assert_array_equal(again, m)
    other, _ = load_pretrained_vectors(path, ["<pad>", "The", "THE", "x"], None, seed=1)
    assert not np.array_equal(other[3], m[3])


def test_words_with_spaces_in_glove(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("new york 1.5 2.5\nboston 3 4\n", encoding="utf-8")
    m, cov = load_pretrained_vectors(path, ["<pad>", "new york", "boston"], 2)
    assert cov["found"] == 2
    np.testing.assert_array_equal(m[1], [1.5, 2.5])


@pytest.mark.parametrize("freeze", [True, False])
def test_vectors_go_into_the_embedding_and_freeze_keeps_them(tmp_path, freeze):
    matrix, _ = load_pretrained_vectors(_write_w2v_binary(tmp_path / "v.bin"), TOKENS, 4)
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=len(TOKENS), cell="gru", hidden=8, layers=1, embed_dim=4))
    model.set_embeddings(matrix, freeze=freeze)
    torch.testing.assert_close(model.encoder.weight.detach(), torch.from_numpy(matrix))
    assert model.cfg.freeze_embeddings is freeze
    decoder_before = model.decoder.weight.detach().clone()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)  # the frozen parameter is handed to it too
    ids = torch.tensor([[1, 2], [3, 4], [5, 1]])
    logits, _ = model(ids)
    F.cross_entropy(logits.reshape(-1, len(TOKENS)), torch.tensor([2, 3, 4, 5, 1, 2])).backward()
    opt.step()
    assert not torch.equal(model.decoder.weight, decoder_before)
    unchanged = torch.equal(model.encoder.weight.detach(), torch.from_numpy(matrix))
    assert unchanged is freeze


def test_freeze_embeddings_config_holds_for_a_fresh_model():
    model = build_model(ModelConfig(vocab_size=5, hidden=4, layers=1, embed_dim=3, freeze_embeddings=True))
    assert not model.encoder.weight.requires_grad


def test_set_embeddings_shape_and_one_hot_errors():
    model = build_model(ModelConfig(vocab_size=5, hidden=4, layers=1, embed_dim=3))
    with pytest.raises(ConfigError, match="embed-dim"):
        model.set_embeddings(np.zeros((5, 4), np.float32), freeze=False)
    one_hot = build_model(ModelConfig(vocab_size=5, hidden=4, layers=1))
    with pytest.raises(ConfigError, match="--embed-dim"):
        one_hot.set_embeddings(np.zeros((5, 3), np.float32), freeze=False)


def test_bad_files_raise_config_error_naming_the_file(tmp_path):
    missing = tmp_path / "nope.vec"
    with pytest.raises(ConfigError, match="nope.vec"):
        load_pretrained_vectors(missing, TOKENS, 4)

    text = _write_w2v_text(tmp_path / "dim.vec")
    with pytest.raises(ConfigError, match=r"dim\.vec.*dimension 4.*--embed-dim 4"):
        load_pretrained_vectors(text, TOKENS, 300)

    prose = tmp_path / "prose.txt"
    prose.write_text("once upon a time\nthere was a cat\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="prose.txt.*unknown vector format"):
        load_pretrained_vectors(prose, TOKENS, None)

    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="empty.txt"):
        load_pretrained_vectors(empty, TOKENS, None)

    ragged = tmp_path / "ragged.txt"
    ragged.write_text("the 1 2 3\ncat 1 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="ragged.txt.*line 2"):
        load_pretrained_vectors(ragged, TOKENS, None)

    full = _write_w2v_binary(tmp_path / "cut.bin").read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(full[:-7])
    with pytest.raises(ConfigError, match="cut.bin.*ends"):
        load_pretrained_vectors(cut, TOKENS, 4)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("fmt", ["glove", "word2vec-binary"])
def test_non_finite_values_are_refused_naming_where(tmp_path, fmt, bad):
    vectors = {**VECTORS, "dog": [0.0, bad, 1.0, 2.0]}  # the 4th entry, on line 4 of a GloVe file
    if fmt == "glove":
        path = tmp_path / "v.txt"
        path.write_text("\n".join(f"{w} " + " ".join(repr(v) for v in vec) for w, vec in vectors.items()) + "\n")
        where = "line 4 ('dog')"
    else:
        path = _write_w2v_binary(tmp_path / "v.bin", vectors=vectors)
        where = "vector 4 of 4 ('dog')"
    with pytest.raises(ConfigError, match=f"{path}: {where.replace('(', '[(]').replace(')', '[)]')} has a value that is not a finite number"):
        load_pretrained_vectors(path, TOKENS)
