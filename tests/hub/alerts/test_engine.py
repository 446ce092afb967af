"""The alert state machine: invariants over any sequence of observations, and its edge cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from luna_hub.alerts.engine import Notice, group_key, group_notices, matches, plan
from luna_hub.alerts.schemas import Matcher, Observation, StoredAlert

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = ("a", "b", "c")


def _seen(name: str) -> Observation:
    return Observation(labels={"alertname": "agent_offline", "agent_id": name, "site_id": "s"})


FP = {name: _seen(name).fingerprint for name in NAMES}
BY_FP = {fp: name for name, fp in FP.items()}

steps = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=50),  # seconds since the previous evaluation
        st.sets(st.sampled_from(NAMES)),  # observed now
        st.sets(st.sampled_from(NAMES)),  # silenced now
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, pending_s=st.sampled_from([0.0, 10.0, 60.0]), repeat_s=st.sampled_from([30.0, 1e9]))
def test_each_alert_alternates_firing_and_resolve_notifications(
    steps: list[tuple[float, set[str], set[str]]], pending_s: float, repeat_s: float
) -> None:
    stored: dict[str, StoredAlert] = {}
    now = T0
    since: dict[str, datetime] = {}  # when each name's current streak of observations began
    history: dict[str, list[str]] = {name: [] for name in NAMES}
    for gap, observed, silenced in steps:
        now += timedelta(seconds=gap)
        for name in NAMES:
            if name in observed:
                since.setdefault(name, now)
            else:
                since.pop(name, None)
        result = plan(
            stored,
            {FP[n]: _seen(n) for n in observed},
            now=now,
            pending_s=pending_s,
            repeat_s=repeat_s,
            recent_s=3600,
            silenced=frozenset(FP[n] for n in silenced),
        )
        for notice in result.notices:
            name = BY_FP[notice.alert.fingerprint]
            if notice.status == "firing":
                assert name in observed
                assert name not in silenced, "a silenced alert was notified"
                assert (now - since[name]).total_seconds() >= pending_s, "fired before its pending period"
            else:
                assert name not in observed
            if notice.kind == "notify":
                history[name].append(notice.status)
            else:
                assert history[name][-1:] == ["firing"], "a reminder of an alert not notified as firing"
        for fingerprint in result.forget:
            stored.pop(fingerprint, None)
        stored.update((row.fingerprint, row) for row in result.rows)
        assert len(stored) == len({row.fingerprint for row in stored.values()})
    for name, notices in history.items():
        assert notices == ["firing", "resolved"] * (len(notices) // 2) + ["firing"] * (len(notices) % 2), name


def test_a_pending_alert_that_fails_its_recheck_stays_pending() -> None:
    seen = {FP["a"]: _seen("a")}
    result = plan({}, seen, now=T0, pending_s=0, repeat_s=60, recent_s=60, unconfirmed=frozenset({FP["a"]}))
    assert [row.state for row in result.rows] == ["pending"]
    assert result.notices == []
    stored = {row.fingerprint: row for row in result.rows}
    again = plan(stored, seen, now=T0 + timedelta(seconds=1), pending_s=0, repeat_s=60, recent_s=60)
    assert [n.status for n in again.notices] == ["firing"]


def test_alerts_of_a_failed_rule_keep_their_state() -> None:
    fired = plan({}, {FP["a"]: _seen("a")}, now=T0, pending_s=0, repeat_s=60, recent_s=60)
    stored = {row.fingerprint: row for row in fired.rows}
    held = plan(stored, {}, now=T0, pending_s=0, repeat_s=60, recent_s=60, held=frozenset({"agent_offline"}))
    assert held.rows == []
    assert held.notices == []
    assert held.forget == []
    gone = plan(stored, {}, now=T0, pending_s=0, repeat_s=60, recent_s=60)
    assert [(n.status, n.kind) for n in gone.notices] == [("resolved", "notify")]


def test_matchers_as_alertmanager_reads_them() -> None:
    labels = {"alertname": "agent_offline", "agent_id": "agent-7", "site_id": "north"}
    assert matches([Matcher(name="agent_id", value="agent-[0-9]+", is_regex=True)], labels)
    assert not matches([Matcher(name="agent_id", value="agent-", is_regex=True)], labels)  # a full match
    assert matches([Matcher(name="site_id", value="south", is_equal=False)], labels)
    assert matches([Matcher(name="job", value="")], labels)  # a missing label is empty
    assert not matches([Matcher(name="alertname", value="agent_offline"), Matcher(name="site_id", value="x")], labels)


def test_notices_are_grouped_by_the_group_labels_and_status() -> None:
    fired = plan({}, {FP[n]: _seen(n) for n in NAMES}, now=T0, pending_s=0, repeat_s=60, recent_s=60)
    bodies = group_notices(fired.notices, group_by=["alertname"], external_url="https://hub.example", now=T0)
    assert len(bodies) == 1
    body = bodies[0]
    assert body.group_key == group_key({"alertname": "agent_offline"}) == '{}:{alertname="agent_offline"}'
    assert body.common_labels == {"alertname": "agent_offline", "site_id": "s"}
    assert [a.generator_url for a in body.alerts] == ["https://hub.example/alerts"] * 3
    per_agent = group_notices(fired.notices, group_by=["agent_id"], external_url="", now=T0)
    assert len(per_agent) == len(NAMES)
    assert isinstance(fired.notices[0], Notice)
