"""Swapped-answer Natural Questions passages (BIG-bench's contextual_parametric_knowledge_conflicts)."""

import io
import json
import random
import tarfile

import pytest

from lora_memory.data.context_conflicts import TASK_MEMBER, ConflictQA, conflict_sample, conflict_samples
from lora_memory.data.realtext import title_split


def _examples(n: int) -> list[dict]:
    out = []
    for i in range(n):
        out.append({
            "input": f"\nQuestion: who wrote song number {i} ?\nContext: `` Song {i} '' is a song written by "
                     f"Ada Vell{i} , and it 's on the album ( 1999 ) .",
            "target": f"Ada Vell{i}", "target_scores": {f"Ada Vell{i}": 1, "Real Person": 0},
        })
    out.append({"input": "\nQuestion: who is twice ?\nContext: Bo Li met Bo Li .", "target": "Bo Li",
                "target_scores": {"Bo Li": 1, "X": 0}})  # the answer twice: which one is asked?
    return out


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    path = tmp_path_factory.mktemp("bb") / "bigbench-1.0.0.tar.gz"
    raw = json.dumps({"examples": _examples(200)}).encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(f"bigbench-1.0.0/{TASK_MEMBER}")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return str(path)


def test_items_split_by_question_and_read_as_prose_with_the_swapped_answer_once(sdist):
    train, heldout = conflict_samples(sdist, "train"), conflict_samples(sdist, "heldout")
    assert len(train) + len(heldout) == 200 and heldout  # the answer-twice item is dropped
    assert not {s.qas[0].question for s in train} & {s.qas[0].question for s in heldout}
    for sample in train + heldout:
        qa = sample.qas[0]
        assert isinstance(qa, ConflictQA) and sample.kind == qa.kind == "conflict"
        assert title_split(qa.question) in ("train", "heldout")
        assert qa.question.startswith("Who wrote song number") and qa.question.endswith("?")
        assert sample.document.count(qa.answer) == 1 and qa.prior == "Real Person"
        assert '"Song' in sample.document and "it's on the album (1999)." in sample.document
        assert f"{qa.lead} {qa.answer}" in sample.document
    assert conflict_sample(random.Random(0), sdist, "train") in train


def test_an_archive_without_the_task_is_refused(tmp_path):
    path = tmp_path / "other.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("x/README.md")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(FileNotFoundError, match="bigbench"):
        conflict_samples(str(path), "train")
    with pytest.raises(ValueError, match="split"):
        conflict_samples(str(path), "test")


def test_training_draws_them_at_their_weight_and_needs_the_sdist(backbone, sdist, tmp_path):
    from lora_memory.training.doc2lora import Doc2LoRATrainConfig, _stream

    with pytest.raises(ValueError, match="bigbench_sdist"):
        Doc2LoRATrainConfig(run_dir=str(tmp_path), conflict_weight=1.0)
    config = Doc2LoRATrainConfig(run_dir=str(tmp_path), conflict_weight=1.0, bigbench_sdist=sdist,
                                 needle_weight=1.0, facts_weight=0.0)
    kinds = [s.kind for s, _ in zip(_stream(backbone, config, 0, "train"), range(40))]
    assert 10 < kinds.count("conflict") < 30 and set(kinds) == {"conflict", "needle"}
