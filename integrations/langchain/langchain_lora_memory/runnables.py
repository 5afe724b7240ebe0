"""A Text-to-LoRA task adapter as a LangChain Runnable (and, through it, a tool)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import cached_property
from typing import Any, Self

from langchain_core.runnables import RunnableConfig, RunnableSerializable
from langchain_core.tools import BaseTool
from lora_memory.task import TaskAdapter
from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import override


class TaskAdapterRunnable(RunnableSerializable[str, str]):
    """``str -> str`` Runnable that does one task described in plain language.

    Text-to-LoRA turns the description into an adapter once; every call then runs the base
    model with it, so the instruction costs no prompt tokens and ``batch`` decodes all inputs
    in one pass.

    Instantiate and use:
        .. code-block:: python

            from langchain_lora_memory import TaskAdapterRunnable

            sentiment = TaskAdapterRunnable(description="Answer with the sentiment: positive or negative.")
            sentiment.invoke("I loved every minute.")
            sentiment.batch(["Dreadful.", "Wonderful."])
            tool = sentiment.as_tool(name="sentiment")  # the description becomes the tool's
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    task: TaskAdapter | None = Field(default=None, exclude=True)
    """A task adapter built elsewhere (e.g. on a custom backbone); the fields below are then unused."""

    description: str | None = None
    """What the task is, in plain language, as Text-to-LoRA was trained to read it."""

    model: str | None = None
    """Base model (hub id or local directory); ``None`` is the embedded SmolLM2-135M-Instruct."""

    checkpoint: str | None = None
    """Text-to-LoRA checkpoint; ``None`` uses the one shipped for ``model``."""

    max_new_tokens: int = 64
    """Most tokens to generate per input."""

    device: str | None = None
    """Torch device; ``None`` picks the GPU when there is one."""

    @model_validator(mode="after")
    def _needs_a_task(self) -> Self:
        if self.task is None and self.description is None:
            raise ValueError("TaskAdapterRunnable needs a `task` or a `description`")
        return self

    @cached_property
    def _task(self) -> TaskAdapter:
        """The adapter, generated on first use so that building a chain stays free."""
        if self.task is not None:
            return self.task
        assert self.description is not None  # by _needs_a_task
        return TaskAdapter(
            self.description,
            model=self.model,
            checkpoint=self.checkpoint,
            max_new_tokens=self.max_new_tokens,
            device=self.device,
        )

    @override
    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        return self._call_with_config(self._task, input, config)

    @override
    async def ainvoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        return await self._acall_with_config(self._task.ainvoke, input, config)

    @override
    def batch(
        self,
        inputs: list[str],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[str]:
        # One batched decode instead of the default thread per input. (The ignores: LangChain types
        # the batch function as returning list[Exception | str], and lists are invariant.)
        return self._batch_with_config(
            self._task.batch,  # type: ignore[arg-type]
            inputs,
            config,
            return_exceptions=return_exceptions,
        )

    @override
    async def abatch(
        self,
        inputs: list[str],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[str]:
        return await self._abatch_with_config(
            self._task.abatch,  # type: ignore[arg-type]
            inputs,
            config,
            return_exceptions=return_exceptions,
        )

    @override
    def stream(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[str]:
        yield from self._transform_stream_with_config(iter([input]), self._stream_task, config)

    @override
    async def astream(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[str]:
        async for token in self._atransform_stream_with_config(_one(input), self._astream_task, config):
            yield token

    def as_tool(
        self,
        args_schema: type[BaseModel] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        arg_types: dict[str, type] | None = None,
    ) -> BaseTool:
        """A tool an agent can call; it is described by the task's own description unless told otherwise.

        Args:
            args_schema: input schema; the default is one string argument.
            name: the tool's name (default: the Runnable's name, ``TaskAdapterRunnable``).
            description: what the agent reads to decide when to call it (default: the task description).
            arg_types: argument name -> type, instead of ``args_schema``.
        """
        description = description or self._task.description
        return super().as_tool(args_schema, name=name, description=description, arg_types=arg_types)

    def _stream_task(self, inputs: Iterator[str]) -> Iterator[str]:
        yield from self._task.stream("".join(inputs))

    async def _astream_task(self, inputs: AsyncIterator[str]) -> AsyncIterator[str]:
        text = "".join([chunk async for chunk in inputs])
        async for token in self._task.astream(text):
            yield token


async def _one(value: str) -> AsyncIterator[str]:
    yield value
