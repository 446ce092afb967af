"""``luna-agent``: the agent's command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import msgspec

from luna_agent import __version__
from luna_agent.errors import AgentError
from luna_shared.errors import ConfigError
from luna_shared.process import EXIT_CONFIG, cli_parser, run_main, serve_http, start_logging

if TYPE_CHECKING:  # the settings pull in every stage (structlog, httpx): a third of a second, not for --help
    from luna_agent.settings import AgentSettings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = cli_parser("luna-agent", "Luna-iEMS edge agent: meters to hub.", __version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run", help="run the agent and its status API", description="Run the agent until Ctrl-C or SIGTERM."
    )
    run.add_argument("-c", dest="run_config", type=Path, metavar="FILE", help="settings file (same as --config)")
    run.add_argument("--host", help="interface of the status API (default: status_api.host)")
    run.add_argument("--port", type=int, help="TCP port of the status API, 0 for any (default: status_api.port)")
    check = commands.add_parser(
        "check-config", help="validate a settings file", description="Check FILE; errors name file, line, key, reason."
    )
    check.add_argument("file", type=Path, metavar="FILE")
    probe = commands.add_parser(
        "probe",
        help="find the profile, byte order and address base of a device",
        description="Try the shipped profiles, byte orders and address shifts. A decoding whose L1 voltage "
        "(180-260 V) and frequency (45-65 Hz) are plausible becomes a candidate; candidates are ranked by evidence: "
        "identity registers the profile documents (meter code, serial number) and how many of all its values are "
        "plausible. The first line names the best and how sure that is (sure, likely, unsure).",
    )
    probe.add_argument("target", metavar="HOST[:PORT]")
    probe.add_argument("--unit", type=int, default=1, help="Modbus unit id (default 1)")
    probe.add_argument("--timeout", type=float, default=1.0, help="seconds per request (default 1)")
    sync = commands.add_parser(
        "sync",
        help="forward the buffer's backlog to the hub now",
        description="Send every unacknowledged reading in the buffer to the hub ([sync] settings), then print a "
        "summary. Exit 0 when nothing is left that it could send, 1 when the hub is unreachable or refuses (or "
        "there is no key). Meant for a stopped agent; next to a running one nothing is stored twice, but that "
        "agent's backlog figure stays too high until it restarts.",
    )
    sync.add_argument("--once", action="store_true", required=True, help="drain once and exit (the only mode)")
    sync.add_argument("-c", dest="run_config", type=Path, metavar="FILE", help="settings file (same as --config)")
    _add_buffer_commands(commands)
    simulate = commands.add_parser(
        "simulate", help="serve a simulated meter", description="Serve a realistic simulated meter over Modbus TCP."
    )
    simulate.add_argument("--profile", default="sdm630", help="shipped profile to simulate (default sdm630)")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=5020, help="TCP port, 0 for any (default 5020)")
    simulate.add_argument("--unit", type=int, default=1)
    return parser


class _OneLineErrorParser(argparse.ArgumentParser):
    """Reports a bad argument in one line (no usage block), as the other errors of ``luna-agent`` are."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def _add_buffer_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    buffer = commands.add_parser(
        "buffer",
        help="look into the buffer file, read-only (stats, export)",
        description="Read the buffer file without changing it; safe while the agent runs (WAL readers do not block "
        "its writer). The file is data_dir/buffer.file from the settings, or --file.",
    )
    buffer.set_defaults(run_config=None, file=None)
    actions = buffer.add_subparsers(dest="buffer_command", metavar="ACTION", parser_class=_OneLineErrorParser)
    stats = actions.add_parser(
        "stats",
        help="rows, backlog, size, time span and drops",
        description="Print rows, unsynced readings, bytes in use, oldest and newest reading, drop counters, events.",
    )
    export = actions.add_parser(
        "export",
        help="write readings as CSV or JSON lines",
        description="Write the stored readings (synced or not) in sequence order, with seq, meter_id, metric, ts "
        "(UTC, ISO 8601), value, unit, quality, reasons and synced.",
    )
    export.add_argument(
        "--since",
        type=_iso_time,
        metavar="TIME",
        help="only readings at or after TIME, ISO 8601 (2026-03-01T12:00:00+01:00; without an offset: UTC)",
    )
    export.add_argument("--format", dest="output_format", choices=("csv", "jsonl"), default="csv", help="default csv")
    export.add_argument("--output", type=Path, metavar="FILE", help="write to FILE instead of standard output")
    for action in (stats, export):
        action.add_argument("-c", dest="run_config", type=Path, metavar="FILE", help="settings file (same as --config)")
        action.add_argument("--file", type=Path, metavar="BUFFER", help="the buffer file itself (settings not read)")


def _iso_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        msg = f"not an ISO 8601 time: {text!r} (e.g. 2026-03-01T12:00:00Z)"
        raise argparse.ArgumentTypeError(msg) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``luna-agent`` script."""
    args = _parser().parse_args(argv)
    return run_main("luna-agent", lambda: _dispatch(args))


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "check-config":
        return _check_config(args.file)
    if args.command == "probe":
        return asyncio.run(_probe(args.target, args.unit, args.timeout))
    if args.command == "simulate":
        asyncio.run(_simulate(args.profile, args.host, args.port, args.unit))
        return 0
    from luna_agent.settings import load  # noqa: PLC0415 - see the TYPE_CHECKING import
    from luna_agent.sync import hub_tls_context, read_agent_key  # noqa: PLC0415

    path = args.run_config or args.config
    if args.command == "buffer":
        return _buffer(args, path)
    settings = start_logging(*load(path))
    if args.command == "sync":
        return asyncio.run(_sync_once(settings, path))
    if settings.sync is not None:
        read_agent_key(Path(settings.sync.key_file))  # empty or unreadable: stop now, naming the file
        hub_tls_context(settings.sync.ca_file)  # missing, unreadable or not PEM: the same, not at the first batch
    _serve(settings, host=args.host, port=args.port)
    return 0


def _check_config(path: Path) -> int:
    from luna_agent.settings import load  # noqa: PLC0415 - see the TYPE_CHECKING import

    settings, ignored = load(path)
    print(
        f"{path}: OK ({len(settings.devices)} device(s), {len(settings.simulators)} simulator(s), "
        f"mqtt {'on' if settings.mqtt else 'off'}, sync {'to ' + settings.sync.hub_url if settings.sync else 'off'})"
    )
    if ignored:
        print(f"ignored environment variables: {', '.join(ignored)}")
    return 0


async def _probe(target: str, unit: int, request_timeout: float) -> int:
    from luna_agent.sources.modbus.probe import certainty, probe_device  # noqa: PLC0415 - only this command needs it
    from luna_agent.sources.modbus.transport import ModbusTransport  # noqa: PLC0415

    host, _, port = target.partition(":")
    transport = ModbusTransport(host=host, port=int(port or 502), timeout=request_timeout, retries=0)
    try:
        results = await probe_device(transport, unit)
    finally:
        transport.close()
    if not results:
        print(f"{target} unit {unit}: no shipped profile gives plausible values (or the device does not answer)")
        return 1
    best = results[0]
    sure = certainty(results)
    print(
        f"{target} unit {unit}: {best.profile}, order {best.order}, address shift {best.address_shift:+d} ({sure}; "
        f"{len(results)} candidate(s))"
    )
    for rank, result in enumerate(results, 1):
        evidence = result.evidence
        seen = [f"{evidence.plausible}/{evidence.checked} values plausible"]
        seen += [f"{code} matches" for code in evidence.codes_matched]
        seen += [f"{serial} answers" for serial in evidence.serials]
        seen += [*evidence.codes_missing, *evidence.codes_differing]
        values = ", ".join(f"{k}={v}" for k, v in result.values.items())
        print(
            f"{rank}. profile={result.profile} order={result.order} shift={result.address_shift:+d} "
            f"score={result.score:g}  {values}; {'; '.join(seen)}"
        )
    return 0


def _buffer(args: argparse.Namespace, path: Path | None) -> int:
    from luna_agent.buffer.inspection import export, summarize  # noqa: PLC0415 - only this command needs it
    from luna_agent.settings import load  # noqa: PLC0415

    if args.buffer_command is None:
        print(
            "luna-agent buffer: error: name an action, stats or export; see luna-agent buffer --help", file=sys.stderr
        )
        return EXIT_CONFIG
    buffer_file: Path = args.file or load(path).settings.buffer_path
    if args.buffer_command == "stats":
        summary = summarize(buffer_file)
        for name, value in msgspec.structs.asdict(summary).items():
            shown = (
                value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                if isinstance(value, datetime)
                else value
            )
            print(f"{name}: {'-' if shown is None else shown}")
        return 0
    if args.output is None:
        try:
            export(buffer_file, sys.stdout, since=args.since, output_format=args.output_format)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader (head, less) had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    try:
        with args.output.open("w", encoding="utf-8", newline="") as out:
            count = export(buffer_file, out, since=args.since, output_format=args.output_format)
    except OSError as exc:
        raise AgentError(f"{args.output}: cannot write the export: {exc.strerror}") from exc
    print(f"{count} reading(s) written to {args.output}", file=sys.stderr)
    return 0


async def _sync_once(settings: AgentSettings, path: Path | None) -> int:
    from luna_agent.buffer import ReadingBuffer  # noqa: PLC0415 - only this command needs it
    from luna_agent.sync import SyncState, Uploader  # noqa: PLC0415

    if settings.sync is None:
        raise ConfigError(str(path) if path else "settings", "sync", "no [sync] section: no hub to send to")
    buffer = ReadingBuffer.from_settings(settings.buffer, Path(settings.data_dir))
    try:
        uploader = Uploader(settings.sync, buffer, agent_id=settings.agent_id, site_id=settings.site_id)
        try:
            summary = await uploader.drain()
        finally:
            await uploader.aclose()
    finally:
        buffer.close()
    print(
        f"sync: {summary.readings} reading(s) in {summary.batches} batch(es) acknowledged by {settings.sync.hub_url}; "
        f"backlog {summary.backlog}; state {summary.state.value}"
    )
    if summary.state is SyncState.WAITING_FOR_KEY:
        print(f"sync: no agent key yet: {settings.sync.key_file} does not exist")
    elif not summary.complete and summary.last_error:
        print(f"sync: last error: {summary.last_error}")
    return 0 if summary.complete else 1


async def _simulate(profile: str, host: str, port: int, unit: int) -> None:
    from luna_agent.simulators.modbus_meter import MeterSimulator, one_line_pymodbus_log  # noqa: PLC0415

    one_line_pymodbus_log(unit)
    simulator = await MeterSimulator(profile, host=host, port=port, unit=unit).start()
    print(f"luna-agent simulating {profile} at modbus://{host}:{simulator.port} unit {unit}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.stop()


def _serve(settings: AgentSettings, *, host: str | None, port: int | None) -> None:
    from luna_agent.api import create_app  # noqa: PLC0415 - keeps check-config and probe light
    from luna_agent.exclusive import check_port_free, lock_data_dir  # noqa: PLC0415

    api = msgspec.structs.replace(
        settings.status_api,
        host=host or settings.status_api.host,
        port=settings.status_api.port if port is None else port,
    )
    settings = msgspec.structs.replace(settings, status_api=api)
    with lock_data_dir(Path(settings.data_dir)):  # held until the agent has stopped
        check_port_free(api.host, api.port)
        asyncio.run(serve_http(create_app(settings), host=api.host, port=api.port, name="luna-agent"))


if __name__ == "__main__":
    sys.exit(main())
