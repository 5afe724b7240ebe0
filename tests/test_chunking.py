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


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(st.integers(0, 30), max_size=2000), max_tokens=st.integers(1, 300))
def test_chunks_cut_after_a_sentence_end_in_their_second_half(ids, max_tokens):
    breaks = {0, 1}  # token ids that end a sentence
    chunks = chunk_token_ids(ids, max_tokens, breaks)
    assert [t for c in chunks for t in c] == ids
    assert all(1 <= len(c) <= max_tokens for c in chunks)
    for chunk in chunks[:-1]:
        half = (len(chunk) + 1) // 2
        # a cut either follows a sentence end, or no sentence ended in the chunk's second half
        assert chunk[-1] in breaks or not any(t in breaks for t in chunk[half:])


def test_sentences_stay_whole_in_real_text():
    from lora_memory.chunking import sentence_break_ids

    tok = tiny_tokenizer()
    text = "Mira Tolvane was born in the town of Quessabell in 1987. The grass is green. " * 40
    ids = tok(text, add_special_tokens=False)["input_ids"]
    chunks = chunk_token_ids(ids, 128, sentence_break_ids(tok))  # sentences of 43 and 5 tokens here
    pieces = [tok.decode(c) for c in chunks]
    assert "".join(pieces) == text
    assert all(p.rstrip().endswith(".") for p in pieces)  # no sentence is cut in two
    assert chunk_token_ids(ids, 128) != chunks  # plain balanced cuts would have split sentences
