"""``speechkit providers``, ``speechkit emulate``, ``speechkit conformance`` and ``speechkit compare``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import json
import subprocess
import sys

from .. import registry
from ..catalog import capability_names, describe, first_sentence
from ..errors import ConfigError
from .exits import EXIT_CONFIG, EXIT_OK, UsageError, verbosity


def providers(args: argparse.Namespace) -> int:
    rows = [describe(name) for name in registry.names()]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return EXIT_OK
    for row in rows:
        if "error" in row:
            print(f"{row['name']}: cannot be loaded — {row['error']}\n")
            continue
        caps = row["capabilities"]
        cred = row["credential_env"]
        key = "no key" if not cred else f"{cred} {'set' if row['credentials_configured'] else 'NOT set'}"
        print(f"{row['name']}: {row['summary']}")
        print(f"  config:       {row['example']}")
        print(f"  network:      {'yes' if row['network'] else 'no (in-process)'}")
        print(f"  credentials:  {key}")
        print(f"  capabilities: {', '.join(capability_names(caps))}")
        print(
            f"  languages:    {', '.join(caps['languages']) or 'any the vendor accepts'}; "
            f"sample rates: {', '.join(map(str, caps['sample_rates']))} Hz"
        )
        if not row["available"]:
            print(f"  install:      not installed — {row['install']}")
        print("  options:")
        for opt, info in row["options"].items():
            doc = f"  {first_sentence(info['doc'])}" if info["doc"] else ""
            print(f"    {opt}: {info['type']} = {info['default']!r}{doc}")
        print()
    return EXIT_OK


def emulate(args: argparse.Namespace) -> int:
    cls = registry.get(args.provider)
    if not cls.emulator:
        print(f"speechkit: {args.provider} runs in-process and has no emulator", file=sys.stderr)
        return EXIT_CONFIG
    module, _, name = cls.emulator.partition(":")
    emulator_cls = getattr(importlib.import_module(module), name)

    changes: dict[str, str] = {}
    for item in args.set:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--set takes FIELD=VALUE, got {item!r}")
        changes[key.strip()] = value.strip()
    emulator = emulator_cls.for_cli(recognizer=args.recognizer, port=args.port)
    emulator.configure(changes)  # an unknown field fails here, before serving

    async def serve() -> None:
        async with emulator as emu:
            print(
                f"{args.provider} emulator ({args.recognizer} recognizer) listening on {emu.url} "
                f"api_key={emu.api_key}"
            )
            config = f"{args.provider}?base_url={emu.url}&api_key={emu.api_key}"
            print(f"  try: speechkit transcribe FILE --stt '{config}'")
            print("  Ctrl-C to stop", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return EXIT_OK


CONFORMANCE_MODULES = ("pytest", "pytest_asyncio", "hypothesis", "jiwer")
"""What ``speechkit conformance`` needs beyond the core: the ``[conformance]`` extra."""


def conformance(args: argparse.Namespace, extra: list[str]) -> int:
    missing = [m for m in CONFORMANCE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"the conformance suite needs {', '.join(missing)} (not installed): "
            "pip install 'speechkit-stt[conformance]'"
        )
    registry.get(args.provider)  # an unknown name fails here, with a suggestion
    # a child pytest: its assertion rewriting needs modules this process already imported
    return subprocess.call(
        [
            sys.executable, "-m", "pytest",
            "-p", "speechkit_conformance.plugin",
            "--pyargs", "speechkit_conformance.suite",
            "-o", "asyncio_mode=auto",
            "-o", "asyncio_default_fixture_loop_scope=function",
            "--speechkit-provider", args.provider,
            *extra,
        ]
    )  # fmt: skip


def compare(args: argparse.Namespace) -> int:
    from ..compare.command import main  # imported when it runs: numpy, tqdm, livekit

    return main(args, show_progress=not args.no_progress and verbosity(args) >= 0 and sys.stderr.isatty())
