"""Validation: every sample passes one pipeline that sets quality and reasons; nothing is dropped."""

from luna_agent.validation.clock import ClockGuard, kernel_clock_synced
from luna_agent.validation.counters import CounterEvent
from luna_agent.validation.pipeline import Checked, Pipeline
from luna_agent.validation.settings import ValidationSettings

__all__ = ["Checked", "ClockGuard", "CounterEvent", "Pipeline", "ValidationSettings", "kernel_clock_synced"]
