"""Chunking: contiguous, lossless, within the configured length, balanced."""

from hypothesis import given, settings
from hypothesis import strategies as st

from lora_memory.chunking import chunk_token_ids
from tests.conftest import tiny_tokenizer


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(st.integers(0, 50_000), max_size=3000), max_tokens=st.integers(1, 700))
def test_chunks_are_lossless_bounded_balanced_and_fewest(ids, max_tokens):
    chunks = chunk_token_ids(ids, max_tokens)
    assert [t for c in chunks for t in c] == ids
    assert all(1 <= len(c) <= max_tokens for c in chunks)
    if chunks:
        assert max(map(len, chunks)) - min(map(len, chunks)) <= 1
        assert len(chunks) == -(-len(ids) // max_tokens)


def test_long_document_chunks_fall_on_token_boundaries():
    tok = tiny_tokenizer()
    text = "The special magic number is 4821. The grass is green. " * 200
    ids = tok(text, add_special_tokens=False)["input_ids"]
    chunks = chunk_token_ids(ids, 128)
    assert all(len(c) <= 128 for c in chunks)
    assert "".join(tok.decode(c) for c in chunks) == tok.decode(ids) == text
