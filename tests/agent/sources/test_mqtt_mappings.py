"""MQTT payload mappings over real captured payloads (fixtures copied from shared/data/mqtt)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from luna_agent.sources.mqtt.mappings import MalformedPayload, meter_id_for, parse_message, topic_matches
from luna_agent.sources.mqtt.settings import MqttMapping
from luna_shared.vocabulary import METRICS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mqtt"
Format = Literal["tasmota", "shelly_gen2", "plain", "json"]


def records(name: str) -> list[dict[str, Any]]:
    lines = (FIXTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def mapping(fmt: Format, **extra: Any) -> MqttMapping:
    return MqttMapping(topic="#", format=fmt, **extra)


def test_tasmota_energy_payload_with_its_own_time() -> None:
    payload = records("tasmota_energy")[0]["payload"].encode()
    samples = parse_message(
        mapping("tasmota"), "tele/pow1/SENSOR", payload, datetime(2018, 2, 15, 17, 37, 20, tzinfo=UTC)
    )
    values = {s.metric: s.value for s in samples}
    assert values == {
        "power_w": 2635.0,
        "voltage_l1_v": 227.0,
        "current_l1_a": 11.661,
        "apparent_power_va": 2650.0,
        "reactive_power_var": 282.0,
        "power_factor": 0.99,
        "energy_import_kwh": 6.294,
    }
    assert {s.meter_id for s in samples} == {"pow1"}
    assert {s.ts for s in samples} == {datetime(2018, 2, 15, 17, 37, 10, tzinfo=UTC)}
    assert all(s.reasons == () for s in samples)


def test_tasmota_three_phase_arrays_become_phase_metrics() -> None:
    three_phase = next(r for r in records("tasmota_energy") if '"Power":[' in r["payload"])
    samples = parse_message(
        mapping("tasmota"), three_phase["topic"], three_phase["payload"].encode(), datetime.now(UTC)
    )
    metrics = {s.metric for s in samples}
    assert {"power_l1_w", "power_l2_w", "power_l3_w", "voltage_l3_v", "frequency_hz"} <= metrics


def test_device_clock_far_off_uses_receive_time_and_flags_it() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    payload = b'{"Time":"1970-06-11T05:35:26","ENERGY":{"Power":12}}'
    (sample,) = parse_message(mapping("tasmota"), "tele/plug/SENSOR", payload, now)
    assert (sample.ts, sample.quality.value, sample.reasons) == (now, "suspect", ("timestamp_corrected",))


def test_shelly_pro_3em_and_notify_status() -> None:
    em, emdata, _em1, _switch, notify, _status = records("shelly_gen2")
    now = datetime(2026, 9, 9, 11, 14, 52, tzinfo=UTC)
    phases = {
        s.metric: s.value for s in parse_message(mapping("shelly_gen2"), em["topic"], em["payload"].encode(), now)
    }
    assert phases["voltage_l1_v"] == 230.8
    assert phases["power_w"] == 594.006
    assert "current_n_a" not in phases  # null without a neutral CT: no reading, not a zero
    energy = {
        s.metric: s.value
        for s in parse_message(mapping("shelly_gen2"), "x/status/emdata:0", emdata["payload"].encode(), now)
    }
    assert energy["energy_import_kwh"] == pytest.approx(345.62803)  # Wh on the wire
    samples = parse_message(mapping("shelly_gen2"), notify["topic"], notify["payload"].encode(), now)
    assert {s.metric: s.value for s in samples} == {"power_w": 11.5, "current_l1_a": 0.071}
    assert samples[0].ts == datetime.fromtimestamp(1788945292.88, UTC).replace(microsecond=880000)


def test_meter_ids_from_odd_topic_prefixes_are_valid() -> None:
    assert meter_id_for("{topic[0]}", "ShellyPro3EM-Garten, OutdoorKüche, BackupBox/status/em1:0") == (
        "ShellyPro3EM-Garten_OutdoorK_che_BackupBox"
    )


def test_plain_and_generic_json() -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    (plain,) = parse_message(
        mapping("plain", metric="energy_import_kwh", scale={"energy_import_kwh": 0.001}),
        "shellies/em3/emeter/0/total",
        b"21831.1",
        now,
    )
    assert plain.value == pytest.approx(21.8311)
    (word,) = parse_message(mapping("plain", metric="power_w"), "shellies/x/relay/0", b"off", now)
    assert (word.value, word.quality.value, word.reasons) == (None, "bad", ("wrong_type",))
    generic = mapping("json", fields={"power_w": "$.data.power", "energy_import_kwh": "eto"}, timestamp_path="$.t")
    samples = parse_message(generic, "go-e/1/status", b'{"eto":"72152","data":{"power":1.5},"t":1777600000}', now)
    assert {s.metric: s.value for s in samples} == {"power_w": 1.5, "energy_import_kwh": 72152.0}


def test_tasmota_nan_literal_is_kept_as_a_flaggable_nan() -> None:
    payload = b'{"Time":"2026-05-01T00:00:00","ENERGY":{"Power":nan,"Voltage":230}}'
    samples = parse_message(mapping("tasmota"), "tele/p/SENSOR", payload, datetime(2026, 5, 1, tzinfo=UTC))
    power = next(s for s in samples if s.metric == "power_w")
    assert power.value is not None
    assert math.isnan(power.value)  # the pipeline turns it into a bad, value-less reading


@pytest.mark.parametrize(
    "record", [r for r in records("malformed") if r["payload_is_valid_json"] is False], ids=lambda r: r["problem"]
)
def test_broken_json_from_the_field_is_rejected_clearly(record: dict[str, Any]) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_message(mapping("tasmota"), "tele/x/SENSOR", record["payload"].encode(), datetime.now(UTC))
    assert str(caught.value).startswith(("not valid JSON", "no ENERGY object"))


def test_every_captured_payload_either_maps_to_known_metrics_or_is_rejected() -> None:
    now = datetime.now(UTC)
    for name, fmt in (("tasmota_energy", "tasmota"), ("shelly_gen2", "shelly_gen2"), ("malformed", "tasmota")):
        for record in records(name):
            try:
                samples = parse_message(mapping(fmt), record["topic"] or "a/b/c", record["payload"].encode(), now)  # type: ignore[arg-type]
            except MalformedPayload:
                continue
            assert samples
            assert all(s.metric in METRICS for s in samples)


@given(st.binary(max_size=300), st.sampled_from(["tasmota", "shelly_gen2", "json", "plain"]))
def test_arbitrary_bytes_never_crash_the_mapping(payload: bytes, fmt: Format) -> None:
    extra: dict[str, Any] = {"metric": "power_w"} if fmt == "plain" else {"fields": {"power_w": "a.b"}}
    try:
        samples = parse_message(mapping(fmt, **extra), "a/b", payload, datetime.now(UTC))
    except MalformedPayload:
        return
    assert all(s.value is None or isinstance(s.value, float) for s in samples)


@pytest.mark.parametrize(
    ("pattern", "topic", "matches"),
    [
        ("tele/+/SENSOR", "tele/pow1/SENSOR", True),
        ("tele/+/SENSOR", "tele/pow1/STATE", False),
        ("shellies/#", "shellies/a/b/c", True),
        ("a/+", "a/b/c", False),
        ("a/b/c", "a/b", False),
    ],
)
def test_topic_patterns(pattern: str, topic: str, matches: bool) -> None:
    assert topic_matches(pattern, topic) is matches


# -- hostile payloads and topics (issue 16): every message either maps to readings the hub accepts, or is malformed --

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "time_literal",
    ["1e20", "1" + "0" * 400, "-1" + "0" * 400, "1e400", '"0000-01-01T00:00:00"', '"9999-12-31T23:59:59-14:00"'],
)
def test_a_time_that_is_no_instant_becomes_the_receive_time_flagged(time_literal: str) -> None:
    payload = f'{{"Time":{time_literal},"ENERGY":{{"Power":5}}}}'.encode()
    (sample,) = parse_message(mapping("tasmota"), "tele/p/SENSOR", payload, NOW)
    assert (sample.ts, sample.value, sample.reasons) == (NOW, 5.0, ("timestamp_corrected",))


def test_a_value_too_large_for_a_float_is_kept_as_infinity_for_validation_to_flag() -> None:
    payload = b'{"ENERGY":{"Power":1' + b"0" * 400 + b"}}"
    (sample,) = parse_message(mapping("tasmota"), "tele/p/SENSOR", payload, NOW)
    assert sample.value == math.inf


@pytest.mark.parametrize("payload", [b"1" * 5000, b"[" * 100_000 + b"]" * 100_000])
def test_json_beyond_pythons_limits_is_malformed(payload: bytes) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_message(mapping("tasmota"), "tele/p/SENSOR", payload, NOW)
    assert caught.value.reason == "not_json"


@pytest.mark.parametrize("topic", ["tele/-evil/SENSOR", "tele/.dot/SENSOR", "tele/:x/SENSOR"])
def test_a_topic_giving_an_invalid_meter_id_is_malformed_not_buffered(topic: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_message(mapping("tasmota"), topic, b'{"ENERGY":{"Power":1}}', NOW)
    assert caught.value.reason == "invalid_meter_id"
    assert "meter id" in str(caught.value)


def test_a_configured_metric_the_wire_would_refuse_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="Power W"):
        MqttMapping(topic="#", format="json", fields={"Power W": "a"})
    with pytest.raises(ValueError, match="metric"):
        MqttMapping(topic="#", format="plain", metric="power\n")


_NUMBERS = st.one_of(
    st.integers(min_value=-(10**500), max_value=10**500),
    st.floats(allow_nan=False),
    st.sampled_from([1e20, 1e11, 1e308, -1e308, 0, 2**63, 253402300800, -62135596801]),
)
_JSON_VALUES = st.one_of(_NUMBERS, st.text(max_size=30), st.booleans(), st.none())
_TOPIC_LEVEL = st.text(max_size=12).filter(lambda level: "/" not in level and "+" not in level and "#" not in level)


def _json(value: object) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "1e400" if value > 0 else "-1e400"
    return json.dumps(value)


@given(time=_JSON_VALUES, power=_JSON_VALUES, total=_JSON_VALUES, level=_TOPIC_LEVEL)
def test_hostile_tasmota_messages_map_to_readings_the_hub_accepts_or_are_malformed(
    time: object, power: object, total: object, level: str
) -> None:
    from luna_agent.validation.pipeline import Pipeline  # noqa: PLC0415
    from luna_agent.validation.settings import ValidationSettings  # noqa: PLC0415
    from luna_shared.codec import encode  # noqa: PLC0415
    from luna_shared.received import ReceivedBatch, decode_for_storage  # noqa: PLC0415
    from luna_shared.wire import make_batch  # noqa: PLC0415

    payload = f'{{"Time":{_json(time)},"ENERGY":{{"Power":{_json(power)},"Total":{_json(total)}}}}}'.encode()
    try:
        samples = parse_message(mapping("tasmota", meter="{topic[1]}"), f"tele/{level}/SENSOR", payload, NOW)
    except MalformedPayload:
        return
    checked = Pipeline(ValidationSettings()).check(samples).samples
    batch = make_batch("agent-1", "site-1", [s.to_reading(seq) for seq, s in enumerate(checked)], NOW)
    received = decode_for_storage(encode(batch))
    assert isinstance(received, ReceivedBatch)
    assert len(received.rows) == len(samples)


# -- device time zones (issue 16): a Tasmota plug's Time is local time -----------------------------------------------

BERLIN_SUMMER = datetime(2026, 7, 1, 10, 0, 5, tzinfo=UTC)  # 12:00:05 in Berlin (UTC+2)


def test_tasmota_local_time_with_the_devices_timezone_is_the_right_instant() -> None:
    payload = b'{"Time":"2026-07-01T12:00:00","ENERGY":{"Power":7}}'
    (sample,) = parse_message(mapping("tasmota", timezone="Europe/Berlin"), "tele/p/SENSOR", payload, BERLIN_SUMMER)
    assert (sample.ts, sample.reasons) == (datetime(2026, 7, 1, 10, 0, tzinfo=UTC), ())


def test_tasmota_local_time_without_a_timezone_is_never_a_reading_in_the_future() -> None:
    """Issue 16: read as UTC it was two hours ahead; the hub refused the whole batch (422) and the site stalled."""
    payload = b'{"Time":"2026-07-01T12:00:00","ENERGY":{"Power":7}}'
    (sample,) = parse_message(mapping("tasmota"), "tele/p/SENSOR", payload, BERLIN_SUMMER)
    assert (sample.ts, sample.quality.value, sample.reasons) == (BERLIN_SUMMER, "suspect", ("timestamp_corrected",))


def test_an_unknown_timezone_fails_at_start_up_with_its_name() -> None:
    with pytest.raises(ValueError, match="Europe/Berlln"):
        MqttMapping(topic="#", format="tasmota", timezone="Europe/Berlln")


@given(
    received=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),  # noqa: DTZ001
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "UTC"]),
)
def test_a_device_sending_local_time_is_read_right_with_its_zone_and_never_ahead_without(
    received: datetime, zone: str
) -> None:
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    received = received.replace(microsecond=0)
    local = received.astimezone(ZoneInfo(zone)).replace(tzinfo=None).isoformat()
    payload = f'{{"Time":"{local}","ENERGY":{{"Power":1}}}}'.encode()
    (zoned,) = parse_message(mapping("tasmota", timezone=zone), "tele/p/SENSOR", payload, received)
    assert zoned.ts in {received, received - timedelta(hours=1)}  # the latter only in a DST change's repeated hour
    (unzoned,) = parse_message(mapping("tasmota"), "tele/p/SENSOR", payload, received)
    assert unzoned.ts <= received + timedelta(minutes=1)
