"""Embedding: our batched encoder vs pymilvus's OnnxEmbeddingFunction, side by side.

Both run the same ONNX file and tokenizer (the offline all-MiniLM-L6-v2 int8 model; pymilvus's
class is pointed at local files instead of the hub). Figures: texts/s of each, the ratio, and the
minimum cosine between their vectors, for corpus chunks and for query-length texts.
"""

from __future__ import annotations

import numpy as np
import onnxruntime
from pymilvus.model.dense.onnx import OnnxEmbeddingFunction
from transformers import AutoTokenizer

from bench.common import corpus_chunks, median_of, queries
from retrieval.embeddings import load_minilm, minilm_files


class PymilvusOnnx(OnnxEmbeddingFunction):
    """pymilvus's DefaultEmbeddingFunction code on local files (same model, same tokenizer)."""

    def __init__(self):  # skips only the hub download
        onnx_path, tokenizer_json = minilm_files()
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_json.parent))
        self.ort_session = onnxruntime.InferenceSession(str(onnx_path))


def compare(name: str, texts: list[str], runs: int) -> dict[str, float]:
    ours, theirs = load_minilm(), PymilvusOnnx()
    ours_vectors = ours.embed_documents(texts)
    their_vectors = np.array(theirs.encode_documents(texts))
    cosine = float((ours_vectors * their_vectors).sum(axis=1).min())
    ours_s = median_of(lambda: ours.embed_documents(texts), runs)
    theirs_s = median_of(lambda: theirs.encode_documents(texts), max(1, runs // 2))
    return {
        "set": name,
        "texts": len(texts),
        "ours_per_s": len(texts) / ours_s,
        "pymilvus_per_s": len(texts) / theirs_s,
        "ratio": theirs_s / ours_s,
        "min_cosine": cosine,
    }


def run(runs: int = 3) -> list[dict[str, float]]:
    return [compare("chunks", corpus_chunks(), runs), compare("queries", queries(), runs)]


def markdown(rows: list[dict[str, float]]) -> str:
    lines = [
        "| texts | n | ours (texts/s) | pymilvus (texts/s) | ratio | min cosine | goal |",
        "|---|---|---|---|---|---|---|",
    ]
    goals = {"chunks": 3.0, "queries": 10.0}
    for r in rows:
        ok = r["ratio"] >= goals[r["set"]] and r["min_cosine"] >= 0.99999
        lines.append(
            f"| {r['set']} | {r['texts']} | {r['ours_per_s']:.1f} | {r['pymilvus_per_s']:.1f} | "
            f"{r['ratio']:.1f}x | {r['min_cosine']:.6f} | >= {goals[r['set']]:.0f}x, "
            f"cos >= 0.99999: {'met' if ok else 'NOT met'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(run()))
