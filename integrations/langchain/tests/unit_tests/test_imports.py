from langchain_lora_memory import __all__

EXPECTED_ALL = [
    "ParametricMemoryChatMessageHistory",
    "ParametricMemoryChatModel",
    "ParametricMemoryRetriever",
    "TaskAdapterRunnable",
    "__version__",
]


def test_all_imports() -> None:
    assert sorted(EXPECTED_ALL) == sorted(__all__)
