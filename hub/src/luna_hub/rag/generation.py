"""Grounded generation with an Ollama chat model, within its context budget.

The prompt is built from whole passages in rank order until the next one would not fit
``num_ctx - num_predict``; passages left out are counted and reported, never cut in the middle.
Token counts are estimated at three characters per token (llama-family tokenizers average about
four on German and English prose, so the estimate errs on the safe side); ``num_ctx`` is sent with
every call so the server never falls back to its smaller default.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import httpx
import msgspec
import ollama

from luna_hub.errors import BadRequestError, UnavailableError
from luna_hub.rag.data import DataContext
from luna_hub.rag.embedders import model_digest, ollama_error
from luna_hub.rag.passages import Passage, locator
from luna_hub.settings import OllamaSettings

__all__ = ["NOT_IN_SOURCES", "Generated", "OllamaChat", "Prompt", "build_prompt", "estimate_tokens"]

NOT_IN_SOURCES: Final = "The sources do not contain the answer."
_CHARS_PER_TOKEN: Final = 3
_SYSTEM: Final = (
    "You answer questions about energy regulation, devices and energy data using ONLY the numbered sources"
    " given with the question. Cite every statement with the source number in square brackets, e.g. [1] or [D1]"
    " for data. Answer in the language of the question. If the sources do not contain the answer, reply exactly: "
    + NOT_IN_SOURCES
)


def estimate_tokens(text: str) -> int:
    """Return a safe upper estimate of the tokens ``text`` takes."""
    return math.ceil(len(text) / _CHARS_PER_TOKEN) + 4


class Prompt(msgspec.Struct, frozen=True, kw_only=True):
    """The chat messages, which passages made it in, and the budget arithmetic."""

    messages: list[dict[str, str]]
    used: list[Passage]
    dropped: int
    tokens_estimate: int


def _source_header(number: int, passage: Passage) -> str:
    where = locator(passage)
    return f"[{number}] {passage.title}" + (f", {where}" if where else "")


def build_prompt(question: str, passages: Sequence[Passage], data: Sequence[DataContext], *, budget: int) -> Prompt:
    """Fit the system text, data, question and as many whole passages as ``budget`` tokens allow."""
    tail = f"\n\nQuestion: {question}"
    data_text = "".join(f"[{d.citation.ref}] data query {d.citation.query}\n{d.table}\n\n" for d in data)
    fixed = estimate_tokens(_SYSTEM) + estimate_tokens(data_text + tail) + 16
    if fixed > budget:
        msg = (
            f"the question and its data need about {fixed} tokens, more than the {budget} the context allows"
            " (rag.ollama.num_ctx minus num_predict): ask a shorter question or about a shorter period"
        )
        raise BadRequestError(msg)
    used: list[Passage] = []
    blocks: list[str] = []
    spent = fixed
    for passage in passages:
        block = f"{_source_header(len(used) + 1, passage)}\n{passage.text}\n\n"
        cost = estimate_tokens(block)
        if spent + cost > budget:
            continue
        used.append(passage)
        blocks.append(block)
        spent += cost
    user = "Sources:\n\n" + "".join(blocks) + data_text + tail.lstrip("\n")
    messages = [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]
    return Prompt(messages=messages, used=used, dropped=len(passages) - len(used), tokens_estimate=spent)


class Generated(msgspec.Struct, kw_only=True):
    """What the model returned once the stream ended."""

    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float = 0.0


class OllamaChat:
    """The chat model on an Ollama server, streamed."""

    def __init__(self, settings: OllamaSettings, client: ollama.AsyncClient | None = None) -> None:
        self._settings = settings
        self._client = client or ollama.AsyncClient(host=settings.url, timeout=settings.timeout_seconds)
        self._digest: str | None = None

    @property
    def model(self) -> str:
        """The chat model's name."""
        return self._settings.chat_model

    @property
    def options(self) -> dict[str, Any]:
        """Options sent with every call (``num_ctx`` always explicit)."""
        return {
            "num_ctx": self._settings.num_ctx,
            "num_predict": self._settings.num_predict,
            "temperature": self._settings.temperature,
        }

    @property
    def budget(self) -> int:
        """Tokens the prompt may take."""
        return self._settings.num_ctx - self._settings.num_predict

    async def digest(self) -> str:
        """Return the model's digest from ``/api/tags`` (cached)."""
        if self._digest is None:
            self._digest = await model_digest(self._client, self.model)
        return self._digest

    async def stream(self, messages: list[dict[str, str]], result: Generated) -> AsyncIterator[str]:
        """Yield the answer's pieces as they come; ``result`` holds the whole text and counts at the end."""
        started = time.perf_counter()
        try:
            parts = await self._client.chat(
                model=self.model,
                messages=messages,
                stream=True,
                options=self.options,
                keep_alive=self._settings.keep_alive,
            )
            async for part in parts:
                piece = part.message.content or ""
                if piece:
                    result.text += piece
                    yield piece
                if part.done:
                    result.prompt_tokens = part.prompt_eval_count
                    result.completion_tokens = part.eval_count
        except ollama.ResponseError as exc:
            raise ollama_error(exc, self.model) from exc
        except (httpx.HTTPError, ConnectionError) as exc:
            msg = f"Ollama at {self._settings.url} cannot be reached: {exc}"
            raise UnavailableError(msg) from exc
        finally:
            result.latency_ms = (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.close()  # type: ignore[no-untyped-call]
