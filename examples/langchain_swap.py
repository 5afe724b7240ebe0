"""Swap LangChain's RAG chain for parametric memory, on the embedded SmolLM2-135M-Instruct.

The usual chain pastes retrieved text into every prompt:

    chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt | llm | StrOutputParser()

With lora-memory the handbook is internalized once into a LoRA adapter; the chat model routes each
question to the right adapters and answers with the handbook OUT of the prompt:

    chain = ParametricMemoryChatModel(memory=memory) | StrOutputParser()

Run from the repository root (after `make install`):

    .venv/bin/pip install -e integrations/langchain
    .venv/bin/python examples/langchain_swap.py
"""

import json
from importlib import resources

from langchain_core.output_parsers import StrOutputParser
from langchain_lora_memory import ParametricMemoryChatModel, ParametricMemoryRetriever, TaskAdapterRunnable

from lora_memory.memory import ParametricMemory


def main() -> None:
    data = resources.files("lora_memory") / "data"
    handbook = (data / "example.md").read_text(encoding="utf-8")
    questions = json.loads((data / "example_questions.json").read_text(encoding="utf-8"))

    with ParametricMemory() as memory:  # a temporary store; ParametricMemory("handbook-memory") keeps it
        memory.add(handbook, id="handbook", metadata={"source": "example.md"})

        chain = ParametricMemoryChatModel(memory=memory, max_tokens=32) | StrOutputParser()
        sources = ParametricMemoryRetriever(memory=memory)
        for item in questions:
            question = item["question"]
            print(f"Q: {question}   (expected: {item['answer']})")
            print("A: ", end="", flush=True)
            for piece in chain.stream(question):
                print(piece, end="", flush=True)
            print(f"\n   sources: {[doc.metadata['source'] for doc in sources.invoke(question)]}\n")

    # Text-to-LoRA: a task described in words becomes a Runnable (and an agent tool) with no prompt.
    sentiment = TaskAdapterRunnable(
        description="Answer with the sentiment of the review: positive or negative.", max_new_tokens=16
    )
    print("sentiment:", sentiment.batch(["The ice plant broke again, dreadful week.", "Best herring season ever!"]))
    print("tool:", sentiment.as_tool(name="sentiment").name)


if __name__ == "__main__":
    main()
