"""Swap LlamaIndex's VectorStoreIndex for parametric memory, on the embedded SmolLM2-135M-Instruct.

The usual pipeline chunks and embeds the documents, then pastes the nearest chunks into a prompt:

    index = VectorStoreIndex.from_documents(documents)
    index.as_query_engine().query(question)

With lora-memory each document is internalized once into a LoRA adapter; the query engine routes
the question to the right adapters and answers with the text OUT of the prompt:

    index = ParametricMemoryIndex.from_documents(documents, persist_dir="./storage")
    index.as_query_engine().query(question)

Run from the repository root (after `make install`):

    .venv/bin/pip install -e integrations/llamaindex
    .venv/bin/python examples/llamaindex_swap.py
"""

import json
import tempfile
from importlib import resources
from pathlib import Path

from llama_index.core import Document
from llama_index.indices.lora_memory import ParametricMemoryIndex
from llama_index.llms.lora_memory import LoraMemoryLLM


def main() -> None:
    data = resources.files("lora_memory") / "data"
    handbook = Document(text=(data / "example.md").read_text(encoding="utf-8"), id_="handbook")
    questions = json.loads((data / "example_questions.json").read_text(encoding="utf-8"))

    with tempfile.TemporaryDirectory() as tmp:
        storage = Path(tmp) / "storage"
        ParametricMemoryIndex.from_documents([handbook], persist_dir=storage).memory.close()
        index = ParametricMemoryIndex.from_persist_dir(storage, max_new_tokens=32)  # adapters reused, not rebuilt

        engine = index.as_query_engine(streaming=True)
        for item in questions:
            print(f"Q: {item['question']}   (expected: {item['answer']})")
            response = engine.query(item["question"])
            print("A: ", end="", flush=True)
            response.print_response_stream()
            print(f"\n   sources: {[node.node.node_id for node in response.source_nodes]}\n")
        index.memory.close()

    # Text-to-LoRA: a task described in words becomes a LlamaIndex LLM, with no instruction in the prompt.
    llm = LoraMemoryLLM.from_defaults(
        task="Answer with the sentiment of the review: positive or negative.", max_new_tokens=16
    )
    print("sentiment:", llm.complete("Best herring season ever!").text)


if __name__ == "__main__":
    main()
