"""gaussflow.models without the trained weights: the safetensors reader on files written here, the BERT
layout checks on a tiny synthetic BERT, LayerNorm/GELU against their definitions, the forward pass
against a loop-by-loop attention, determinism, the tokenizer's algorithm on a hand vocabulary.

Truths: the safetensors byte layout written by hand with struct (not by the module's writer); scipy's
normal CDF for GELU; a per-token Python loop for attention; hand-sliced tensors.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

import gaussflow.models as gm
from gaussflow.models.safetensors_io import SafetensorsError


def _raw_file(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    """A safetensors file written byte by byte from the format description (independent of the module)."""
    header, blobs, pos = {}, [], 0
    codes = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i8"): "I64"}
    for k, v in tensors.items():
        b = np.ascontiguousarray(v).astype(v.dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": codes[v.dtype.newbyteorder("<")], "shape": list(v.shape),
                     "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return path


def _tiny_bert(rng: np.random.Generator, d: int = 8, layers: int = 2, d_ff: int = 16, vocab: int = 30,
               prefix: str = "") -> dict[str, np.ndarray]:
    t: dict[str, np.ndarray] = {}

    def put(name: str, *shape: int) -> None:
        t[prefix + name] = (0.4 * rng.standard_normal(shape)).astype(np.float32)

    put("embeddings.word_embeddings.weight", vocab, d)
    put("embeddings.position_embeddings.weight", 20, d)
    put("embeddings.token_type_embeddings.weight", 2, d)
    put("embeddings.LayerNorm.weight", d)
    put("embeddings.LayerNorm.bias", d)
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            put(p + f"attention.self.{n}.weight", d, d)
            put(p + f"attention.self.{n}.bias", d)
        put(p + "attention.output.dense.weight", d, d)
        put(p + "attention.output.dense.bias", d)
        put(p + "attention.output.LayerNorm.weight", d)
        put(p + "attention.output.LayerNorm.bias", d)
        put(p + "intermediate.dense.weight", d_ff, d)
        put(p + "intermediate.dense.bias", d_ff)
        put(p + "output.dense.weight", d, d_ff)
        put(p + "output.dense.bias", d)
        put(p + "output.LayerNorm.weight", d)
        put(p + "output.LayerNorm.bias", d)
    return t


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    t = _tiny_bert(np.random.default_rng(0))
    return _raw_file(tmp_path / "tiny.safetensors", t), t


def test_reader_against_bytes_written_by_hand(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    t = {"a": rng.standard_normal((3, 4)).astype(np.float32), "b": np.arange(5, dtype=np.int64),
         "c": rng.standard_normal(2)}
    f = _raw_file(tmp_path / "x.safetensors", t)
    got = gm.read_safetensors(f)
    assert set(got) == set(t)
    for k in t:
        assert got[k].dtype == t[k].dtype and np.array_equal(got[k], t[k])
    assert set(gm.read_safetensors(f, {"b"})) == {"b"}
    # the module's writer produces a file the hand reader semantics agree with
    g = gm.write_safetensors(tmp_path / "y.safetensors", t, {"format": "np"})
    hdr, meta, _ = gm.read_header(g)
    assert meta == {"format": "np"} and hdr["a"]["dtype"] == "F32" and hdr["a"]["shape"] == [3, 4]
    assert all(np.array_equal(gm.read_safetensors(g)[k], t[k]) for k in t)


@pytest.mark.parametrize("damage", ["short", "huge_header", "bad_json", "bad_dtype", "bad_offsets", "overlap"])
def test_malformed_files_raise_one_error(tmp_path: Path, damage: str) -> None:
    f = tmp_path / "bad.safetensors"
    good = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    data = b"\x00" * 8
    if damage == "short":
        f.write_bytes(b"\x01\x02")
    elif damage == "huge_header":
        f.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    elif damage == "bad_json":
        f.write_bytes(struct.pack("<Q", 5) + b"{nope" + data)
    else:
        h = dict(good)
        if damage == "bad_dtype":
            h = {"w": {**good["w"], "dtype": "BF16"}}
        elif damage == "bad_offsets":
            h = {"w": {**good["w"], "data_offsets": [0, 12]}}
        elif damage == "overlap":
            h = {"w": good["w"], "v": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}
        text = json.dumps(h).encode()
        f.write_bytes(struct.pack("<Q", len(text)) + text + data)
    with pytest.raises(SafetensorsError):
        gm.read_safetensors(f)
    assert issubclass(SafetensorsError, ValueError)


def test_loader_hand_sliced(tiny: tuple[Path, dict[str, np.ndarray]]) -> None:
    f, t = tiny
    with pytest.raises(ValueError, match="heads"):
        gm.load_bert(f)  # no config.json beside it
    m = gm.load_bert(f, heads=2)
    assert m.d == 8 and len(m.layers) == 2 and m.heads == 2 and m.config["intermediate_size"] == 16
    L = m.layers[1]
    assert L.d_head == 4 and L.beta == 0.5
    np.testing.assert_array_equal(L.Wq, t["encoder.layer.1.attention.self.query.weight"].astype(float))
    np.testing.assert_array_equal(L.W2, t["encoder.layer.1.output.dense.weight"].astype(float))
    p = L.attention_params()
    Wq = t["encoder.layer.1.attention.self.query.weight"]
    np.testing.assert_array_equal(p["Q"][1], Wq[4:8])            # head 2 = rows 4..7 of the query weight
    np.testing.assert_array_equal(p["q"][1], t["encoder.layer.1.attention.self.query.bias"][4:8])
    np.testing.assert_array_equal(p["W"][0], t["encoder.layer.1.attention.output.dense.weight"][:, :4])
    bv, Wo, bo = (t[f"encoder.layer.1.attention.{n}"].astype(float) for n in
                  ("self.value.bias", "output.dense.weight", "output.dense.bias"))
    np.testing.assert_allclose(p["b_ff"], Wo @ bv + bo, atol=1e-12)
    # a config.json beside the file supplies the heads; "bert." prefixed names load too
    (f.parent / "config.json").write_text(json.dumps({"num_attention_heads": 4, "layer_norm_eps": 1e-6}))
    m4 = gm.load_bert(f)
    assert m4.heads == 4 and m4.layers[0].ln1.eps == 1e-6


def test_other_layouts_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    gpt = {"h.0.attn.c_attn.weight": rng.standard_normal((8, 24)).astype(np.float32)}
    with pytest.raises(ValueError, match="not a BERT layout"):
        gm.load_bert(_raw_file(tmp_path / "gpt.safetensors", gpt), heads=2)
    t = _tiny_bert(rng)
    del t["encoder.layer.1.output.dense.bias"]
    with pytest.raises(ValueError, match=r"missing \['encoder.layer.1.output.dense.bias'\]"):
        gm.load_bert(_raw_file(tmp_path / "cut.safetensors", t), heads=2)
    t = _tiny_bert(rng)
    t["encoder.layer.0.attention.self.key.weight"] = np.zeros((8, 7), np.float32)
    with pytest.raises(ValueError, match=r"key\.weight.*shape"):
        gm.load_bert(_raw_file(tmp_path / "shape.safetensors", t), heads=2)
    with pytest.raises(ValueError, match="divisible"):
        gm.load_bert(_raw_file(tmp_path / "ok.safetensors", _tiny_bert(rng)), heads=3)
    with pytest.raises(FileNotFoundError):
        gm.load_bert(tmp_path / "absent.safetensors")
    pre = _tiny_bert(rng, prefix="bert.")
    assert len(gm.load_bert(_raw_file(tmp_path / "pre.safetensors", pre), heads=2).layers) == 2


def test_layer_norm_and_gelu_definitions() -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((5, 7)) * 3 + 1
    p = gm.LayerNormParams(rng.standard_normal(7), rng.standard_normal(7), 1e-12)
    for i in range(5):  # one row at a time, with the statistics module's population variance
        x = X[i]
        want = p.weight * (x - x.mean()) / np.sqrt(np.mean((x - x.mean()) ** 2) + 1e-12) + p.bias
        np.testing.assert_allclose(gm.layer_norm(X, p)[i], want, rtol=1e-12, atol=1e-12)
    z = np.linspace(-6, 6, 101)
    np.testing.assert_allclose(gm.gelu(z), z * norm.cdf(z), rtol=1e-12, atol=1e-15)


def test_forward_against_a_token_loop_and_deterministic(tiny: tuple[Path, dict[str, np.ndarray]]) -> None:
    f, _ = tiny
    m = gm.load_bert(f, heads=2)
    ids = np.array([1, 5, 7, 2, 9, 3])
    S1, tr = gm.encode(m, ids, traces=True)
    S2 = gm.encode(m, ids)
    assert S1.shape == (3, 6, 8) and np.array_equal(S1, S2)        # deterministic, bit for bit
    L = m.layers[0]
    H = S1[0]
    out = np.zeros_like(H)
    for i in range(len(H)):                                          # attention token by token, head by head
        for h in range(2):
            s = slice(4 * h, 4 * h + 4)
            scores = [0.5 * float((L.Wq[s] @ H[i] + L.bq[s]) @ (L.Wk[s] @ H[j] + L.bk[s])) for j in range(len(H))]
            w = np.exp(np.array(scores) - max(scores))
            w /= w.sum()
            ctx = sum(w[j] * (L.Wv[s] @ H[j] + L.bv[s]) for j in range(len(H)))
            out[i] += L.Wo[:, s] @ ctx
        out[i] += L.bo
    np.testing.assert_allclose(tr[0].attn_residual, H + out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(S1[1], gm.layer_norm(tr[0].ffn_residual, L.ln2), atol=1e-14)
    with pytest.raises(ValueError, match="ids"):
        gm.encode(m, np.array([0, 99]))
    with pytest.raises(ValueError, match="ids"):
        gm.encode(m, np.array([], dtype=int))


def test_wordpiece_algorithm_on_a_hand_vocabulary(tmp_path: Path) -> None:
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "the", "cafe", ",", "!", "'", "s",
             "hello", "日"]
    f = tmp_path / "vocab.txt"
    f.write_text("\n".join(vocab) + "\n")
    tok = gm.WordPiece(f)
    assert tok.tokenize("Hello, THE Café's unaffable!") == ["hello", ",", "the", "cafe", "'", "s", "un", "##aff",
                                                            "##able", "!"]
    assert tok.tokenize("日x zzz") == ["日", "[UNK]", "[UNK]"]
    assert tok.encode("the")[0] == 2 and tok.encode("the")[-1] == 3 and len(tok.encode("the " * 50, 8)) == 8
    bad = tmp_path / "bad.txt"
    bad.write_text("a\nb\n")
    with pytest.raises(ValueError, match="CLS"):
        gm.WordPiece(bad)


def test_corpus_is_shipped_and_varied() -> None:
    s = gm.corpus()
    assert 300 <= len(s) <= 1000 and len(set(s)) == len(s)
    assert sum("?" in x for x in s) >= 10 and sum(any(c.isdigit() for c in x) for x in s) >= 5


def test_biased_variant_closure_against_gauss_hermite() -> None:
    """d = 2, two heads with query, key, value and output biases: Γ(x) of the derived closure equals the
    softmax-weighted Gauss–Hermite average of the trained-layer formula; the key bias drops out of Γ."""
    import gaussflow as gf
    from gaussflow.variants import multihead_bias

    v = multihead_bias.build(heads=2, feedforward=True)
    c = gf.derive(v)
    names = {str(s) for s in c.velocity.free_symbols}
    assert c.preserves_gaussian and {"q_1", "q_2"} <= names and not any(n.startswith("kb_") for n in names)
    rng = np.random.default_rng(5)
    H, d, k = 2, 2, 2
    P = {"Q": rng.standard_normal((H, k, d)), "K": rng.standard_normal((H, k, d)), "q": rng.standard_normal((H, k)),
         "kb": rng.standard_normal((H, k)), "V": rng.standard_normal((H, k, d)), "W": rng.standard_normal((H, d, k)),
         "beta": 0.7, "W_ff": np.zeros((d, d)), "b_ff": rng.standard_normal(d)}
    att = gf.attention(v, **P)
    L = rng.standard_normal((d, d))
    Sig = 0.3 * L @ L.T + 0.1 * np.eye(d)
    alpha = rng.standard_normal(d)
    z, w = np.polynomial.hermite_e.hermegauss(60)
    Z = np.stack(np.meshgrid(z, z, indexing="ij"), -1).reshape(-1, d)
    Wq = np.outer(w, w).reshape(-1)
    Y = alpha + Z @ np.linalg.cholesky(Sig).T
    X = rng.standard_normal((3, d))
    for x in X:
        want = P["b_ff"].copy()
        for h in range(H):
            s = 0.7 * (Y @ P["K"][h].T + P["kb"][h]) @ (P["Q"][h] @ x + P["q"][h])
            e = Wq * np.exp(s - s.max())
            want += P["W"][h] @ P["V"][h] @ (e @ Y / e.sum())
        np.testing.assert_allclose(att.velocity(x, alpha, Sig), want, rtol=1e-9, atol=1e-10)
