"""``luna-agent probe`` against the pymodbus simulators: the right profile comes first, with how sure that is.

The simulators serve each profile's map with moving values and its identity registers (a meter
code as documented, a made-up serial number); nothing is faked between probe and server.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from luna_agent.simulators.modbus_meter import SIMULATED_SERIAL, MeterSimulator
from luna_agent.sources.modbus.probe import Certainty, Evidence, ProbeResult, certainty, plausible, probe_device, score
from luna_agent.sources.modbus.transport import ModbusTransport
from support.processes import BIN, ManagedProcess, free_port


def _agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "luna-agent"), *args], capture_output=True, text=True, timeout=120, check=False)


async def _probe(profile: str) -> list[ProbeResult]:
    simulator = await MeterSimulator(profile).start(update_every_s=60)
    transport = ModbusTransport(host="127.0.0.1", port=simulator.port, timeout=1.0, retries=0)
    try:
        return await probe_device(transport, 1)
    finally:
        transport.close()
        await simulator.stop()


@pytest.mark.parametrize(
    ("profile", "evidence"),
    [
        ("sdm120", "meter code 0x0020"),  # the three Eastron maps share addresses; the meter code tells them apart
        ("sdm72", "meter code 0x0089"),
        ("sdm630", None),
        ("em24_e1", None),
    ],
)
async def test_the_simulated_profile_ranks_first(profile: str, evidence: str | None) -> None:
    ranked = await _probe(profile)
    assert ranked[0].profile == profile, [(r.profile, r.score) for r in ranked]
    assert ranked[0].address_shift == 0
    assert ranked[0].evidence.implausible == 0
    assert ranked[0].evidence.plausible >= 10
    assert all(r.score < ranked[0].score for r in ranked[1:])
    assert certainty(ranked) is Certainty.SURE
    if evidence is not None:
        assert ranked[0].evidence.codes_matched == (evidence,)
    if profile.startswith("sdm"):
        assert f"serial number {SIMULATED_SERIAL}" in ranked[0].evidence.serials


async def test_an_sdm630_is_not_taken_for_an_sdm120_or_sdm72() -> None:
    ranked = await _probe("sdm630")
    others = {r.profile: r for r in ranked[1:]}
    assert {"sdm120", "sdm72"} <= set(others)  # their values are plausible too (same addresses) ...
    for name in ("sdm120", "sdm72"):  # ... but their documented meter code is absent
        assert others[name].evidence.codes_missing
        assert others[name].score <= ranked[0].score - 2


def test_plausibility_of_values() -> None:
    assert plausible("voltage_l1_v", 230.1)
    assert not plausible("voltage_l1_v", 4.2e-8)
    assert plausible("voltage_l2_v", 0.0) is None  # an unused phase
    assert plausible("voltage_l1_l2_v", 400.0)
    assert not plausible("voltage_l1_l2_v", 230.0)
    assert plausible("frequency_hz", 59.9)
    assert not plausible("frequency_hz", 150.0)
    assert not plausible("power_factor", 1.7)
    assert not plausible("thd_current_l1_pct", float("nan"))


def test_certainty_follows_the_lead() -> None:
    def result(name: str, evidence: Evidence) -> ProbeResult:
        return ProbeResult(
            profile=name, order="ABCD", address_shift=0, values={}, evidence=evidence, score=score(evidence)
        )

    values = Evidence(plausible=10, checked=10)
    tie = [result("a", values), result("b", values)]
    assert certainty(tie) is Certainty.UNSURE
    coded = Evidence(plausible=10, checked=10, codes_matched=("meter code 0x0020",))
    assert certainty([result("a", coded), result("b", values)]) is Certainty.SURE
    slightly = Evidence(plausible=9, implausible=0, checked=10, serials=("serial number 1",))
    assert certainty([result("a", slightly), result("b", Evidence(plausible=8, checked=10))]) is Certainty.LIKELY


def test_probe_help_shows_no_argparse_escapes() -> None:
    result = _agent("probe", "--help")
    assert result.returncode == 0
    assert "%%" not in result.stdout
    assert "180-260 V" in result.stdout


def test_simulate_prints_one_line_per_failed_request_when_probed(tmp_path: Path) -> None:
    """A real ``luna-agent simulate``, probed with its own unit id and a wrong one (every request fails)."""
    port = free_port()
    simulator = ManagedProcess(
        [str(BIN / "luna-agent"), "simulate", "--profile", "sdm630", "--port", str(port)], log=tmp_path / "sim.log"
    )
    try:
        deadline = time.monotonic() + 30
        while "simulating sdm630" not in simulator.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        right = _agent("probe", f"127.0.0.1:{port}", "--timeout", "0.5")
        after_right = simulator.output()
        wrong = _agent("probe", f"127.0.0.1:{port}", "--unit", "7", "--timeout", "0.5")
        time.sleep(0.5)  # let the simulator write what it has to say
    finally:
        assert simulator.interrupt() == 0
    output = simulator.output()
    assert right.returncode == 0, right.stdout + right.stderr
    assert right.stdout.startswith(f"127.0.0.1:{port} unit 1: sdm630, order ABCD, address shift +0 (sure;")
    assert wrong.returncode == 1
    assert after_right.splitlines() == [f"luna-agent simulating sdm630 at modbus://127.0.0.1:{port} unit 1"]
    lines = output.splitlines()[1:]
    assert lines, "the failed requests are reported"
    assert "Traceback" not in output
    assert ">>>>>" not in output
    assert set(lines) == {
        "luna-agent simulate: modbus ERROR: a request for a unit id other than 1: answered exception 4 (device failure)"
    }
