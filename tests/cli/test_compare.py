"""``speechkit compare``: WER, latency, reconnects, billed seconds and cost, on the emulators and local.

The emulators' oracle recognizer says exactly which words come back, so WER against a chosen
reference is known; the emulators' own records say what a vendor saw (audio, sessions); a
response delay sets a floor under every latency. Nothing here bounds a time from above.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import write_wav
from speechkit_conformance.emulator import FaultPlan
from speechkit_conformance.emulators.assemblyai import AssemblyAIEmulator
from speechkit_conformance.emulators.telnyx import TelnyxEmulator
from speechkit_conformance.harness import REFERENCE, SAMPLE
from speechkit_conformance.oracle import synthesize

from speechkit.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, main
from speechkit.compare import compare, label_of, split_label
from speechkit.compare.billing import PriceTable, load_prices
from speechkit.compare.page import render_page, short_names
from speechkit.compare.references import load_references
from speechkit.compare.report import JSON_SCHEMA, stats, summarise, to_json
from speechkit.errors import ConfigError

UTTERANCES = [["alpha", "bravo"], ["charlie", "delta", "echo"]]
SAID = "alpha bravo charlie delta echo"


@pytest.fixture
def oracle(tmp_path: Path) -> Path:
    """The oracle utterances (``SAID``) as a 16 kHz WAV file."""
    return write_wav(tmp_path / "oracle.wav", synthesize(UTTERANCES, 16000), 16000)


def config(name: str, emu: TelnyxEmulator | AssemblyAIEmulator) -> str:
    return f"{name}?base_url={emu.url}&api_key={emu.api_key}"


# -- WER ----------------------------------------------------------------------------------


async def test_wer_is_errors_over_reference_words_per_file_and_over_all_words_per_provider(
    oracle: Path, tmp_path: Path
) -> None:
    other = write_wav(tmp_path / "other.wav", synthesize(UTTERANCES, 16000), 16000)
    refs = {
        str(oracle): "alpha bravo charlie delta foxtrot",  # 1 substitution in 5 words
        str(other): "alpha bravo charlie delta echo golf",  # 1 deletion in 6 words
    }
    async with TelnyxEmulator() as emu:
        runs = await compare([str(oracle), str(other)], [config("telnyx", emu)], references=refs)
    assert [r.transcript for r in runs] == [SAID, SAID]
    assert [r.wer for r in runs] == [pytest.approx(1 / 5), pytest.approx(1 / 6)]
    (summary,) = summarise([split_label(config("telnyx", emu))], runs, PriceTable())
    assert summary.wer == pytest.approx(2 / 11)  # every word weighs the same: not the mean 11/60


async def test_wer_uses_whispers_normaliser_numbers_spelt_or_written_and_case_compare_equal(
    tmp_path: Path,
) -> None:
    # the oracle has no digits: say "ten" where the reference writes 10
    clip = write_wav(tmp_path / "ten.wav", synthesize([["alpha", "bravo"]], 16000), 16000)
    async with TelnyxEmulator() as emu:
        (run,) = await compare([str(clip)], [config("telnyx", emu)], references={str(clip): "Alpha, BRAVO!"})
    assert run.wer == 0.0


def test_a_reference_without_the_compare_extra_names_the_extra(
    oracle: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "whisper_normalizer", None)  # find_spec() now reports it missing
    assert (
        main(["compare", str(oracle), "--stt", "local", "--reference", SAID, "--no-progress"]) == EXIT_CONFIG
    )
    err = capsys.readouterr().err
    assert "whisper-normalizer" in err and "pip install 'speechkit-stt[compare]'" in err


# -- latency ------------------------------------------------------------------------------


def test_percentiles_are_numpys_linear_ones() -> None:
    s = stats([float(v) for v in range(1, 11)])
    assert (s["count"], s["p50"], s["p95"], s["mean"]) == (10, 5.5, pytest.approx(9.55), 5.5)
    assert stats([]) == {"count": 0, "p50": None, "p95": None, "mean": None}


@pytest.mark.parametrize("emulator", [TelnyxEmulator, AssemblyAIEmulator])
async def test_every_final_has_a_latency_no_shorter_than_the_servers_delay(
    oracle: Path, emulator: type[TelnyxEmulator] | type[AssemblyAIEmulator]
) -> None:
    # every server message is held back 0.8 s: a final of audio paced at 1x cannot come sooner
    # than 0.8 s after its audio ended, whether the final has times (AssemblyAI) or not (Telnyx)
    async with emulator(faults=FaultPlan(delay=0.8)) as emu:
        name = "telnyx" if emulator is TelnyxEmulator else "assemblyai"
        interims = "&engine=Deepgram" if emulator is TelnyxEmulator else ""  # an engine that streams them
        (run,) = await compare([str(oracle)], [config(name, emu) + interims], realtime=True)
    assert run.failed is None and run.transcript == SAID
    assert len(run.final_latency) == run.finals == 2
    assert min(run.final_latency) >= 0.8, run.final_latency
    assert run.final_latency_estimated == (2 if emulator is TelnyxEmulator else 0)
    assert run.time_to_first_interim and min(run.time_to_first_interim) >= 0.8


# -- reconnects, errors, billing -----------------------------------------------------------


async def test_a_dropped_connection_is_a_reconnect_and_an_error_and_its_replay_is_billed_audio(
    oracle: Path,
) -> None:
    async with TelnyxEmulator(faults=FaultPlan(drop_after=1.0)) as emu:
        (run,) = await compare([str(oracle)], [config("telnyx", emu)])
        vendor_audio = sum(s.audio_seconds for s in emu.sessions)
    assert run.transcript == SAID and run.failed is None
    assert (run.reconnects, len(run.errors)) == (1, 1)
    (summary,) = summarise([split_label(config("telnyx", emu))], [run], PriceTable())
    (bill,) = summary.bills
    assert bill.basis == "audio"
    # what went into the dead socket before the drop was seen is counted too: never less
    # than the vendor received, and the replay is sent, and billed, again
    assert bill.seconds >= vendor_audio - 0.05 > run.audio_seconds + 0.1


async def test_the_audio_billed_is_the_audio_the_vendor_received(oracle: Path) -> None:
    async with TelnyxEmulator() as emu:
        (run,) = await compare([str(oracle)], [config("telnyx", emu)])
        vendor_audio = sum(s.audio_seconds for s in emu.sessions)
    (summary,) = summarise([split_label(config("telnyx", emu))], [run], PriceTable())
    (bill,) = summary.bills
    assert bill.seconds == pytest.approx(vendor_audio, abs=0.05)
    assert vendor_audio == pytest.approx(run.audio_seconds, abs=0.05)  # no replay without a fault


async def test_assemblyai_bills_the_session_not_the_audio(oracle: Path) -> None:
    # pushed as fast as it goes, the audio takes well under its 2.2 s to send; every server
    # message held back 3 s keeps the session open longer than the audio lasts
    async with AssemblyAIEmulator(faults=FaultPlan(delay=3.0)) as emu:
        (run,) = await compare([str(oracle)], [config("assemblyai", emu)])
        last_message = max(t for t, kind, _ in emu.sessions[0].timeline if kind == "sent")
    (summary,) = summarise([split_label(config("assemblyai", emu))], [run], PriceTable())
    (bill,) = summary.bills
    assert bill.basis == "session" and bill.model == "universal-streaming-english"
    assert bill.seconds >= max(3.0, last_message - 0.05) > run.audio_seconds
    assert bill.seconds <= run.wall_seconds
    # the default price: AssemblyAI's list price for Universal-Streaming, per session hour
    doc = to_json([summary], realtime=False, concurrency=1)
    assert doc["providers"][0]["cost_usd"] == pytest.approx(bill.seconds / 3600 * 0.15)


async def test_a_chain_bills_each_member_by_its_own_rule(oracle: Path) -> None:
    async with (
        AssemblyAIEmulator(faults=FaultPlan(outage_after=1.0)) as aai,
        TelnyxEmulator() as tx,
    ):
        chain = f"{config('assemblyai', aai)}, {config('telnyx', tx)}"
        (run,) = await compare([str(oracle)], [chain], references={str(oracle): SAID})
        telnyx_audio = sum(s.audio_seconds for s in tx.sessions)
    assert run.wer == 0.0 and run.failed is None  # nothing lost in the failover
    prices = load_prices(overrides=["telnyx=3.6"])
    (summary,) = summarise([split_label(chain)], [run], prices)
    bills = {b.provider: b for b in summary.bills}
    assert (bills["assemblyai"].basis, bills["telnyx"].basis) == ("session", "audio")
    assert bills["telnyx"].seconds == pytest.approx(telnyx_audio, abs=0.05)
    assert bills["assemblyai"].seconds > 0
    expected = bills["assemblyai"].seconds / 3600 * 0.15 + bills["telnyx"].seconds / 3600 * 3.6
    assert to_json([summary], realtime=False, concurrency=1)["providers"][0]["cost_usd"] == pytest.approx(
        expected
    )


async def test_a_provider_without_a_price_has_an_unknown_cost_not_zero(oracle: Path) -> None:
    async with TelnyxEmulator() as emu:
        (run,) = await compare([str(oracle)], [config("telnyx", emu)])
    (summary,) = summarise([split_label(config("telnyx", emu))], [run], PriceTable())
    assert to_json([summary], realtime=False, concurrency=1)["providers"][0]["cost_usd"] is None


def test_a_price_must_be_a_number_of_zero_or_more(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be 0 or more"):
        load_prices(overrides=["telnyx=-1"])
    with pytest.raises(ConfigError, match="NAME=USD_PER_HOUR"):
        load_prices(overrides=["telnyx"])
    (tmp_path / "p.json").write_text('{"telnyx": "cheap"}')
    with pytest.raises(ConfigError, match="must be a number"):
        load_prices(str(tmp_path / "p.json"))


def test_a_users_provider_price_beats_a_default_model_price() -> None:
    assert load_prices(overrides=["assemblyai=0.5"]).price("assemblyai", "universal-streaming-english") == 0.5
    assert PriceTable().price("assemblyai", "universal-streaming-english") == 0.15


# -- the local provider --------------------------------------------------------------------


@pytest.mark.slow
async def test_local_on_real_speech_is_scored_and_bills_nothing() -> None:
    (run,) = await compare([str(SAMPLE)], ["local"], references={str(SAMPLE): REFERENCE})
    assert run.failed is None and run.wer is not None and run.wer <= 0.15, run.transcript
    (summary,) = summarise([("local", "local")], [run], PriceTable())
    (bill,) = summary.bills
    assert (bill.basis, bill.seconds, bill.cost) == ("none", 0.0, 0.0)


# -- references, labels -------------------------------------------------------------------


def test_a_manifest_gives_each_file_its_text_by_path_relative_to_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(json.dumps({"file": "sub/a.wav", "text": "one two"}) + "\n\n")
    refs = load_references(str(manifest), [str(tmp_path / "sub" / "a.wav"), str(tmp_path / "b.wav")])
    assert list(refs.values()) == ["one two", None]


def test_a_directory_gives_name_txt_and_anything_else_is_the_text(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one two\n")
    assert load_references(str(tmp_path), ["x/a.wav", "x/b.flac"]) == {"x/a.wav": "one two", "x/b.flac": None}
    assert load_references("ask not", ["a.wav"]) == {"a.wav": "ask not"}


def test_a_label_names_a_config_and_credentials_never_show_in_one() -> None:
    assert split_label("fast=telnyx:en") == ("fast", "telnyx:en")
    assert split_label("telnyx?api_key=sekrit99&interim_results=true")[0] == "telnyx?interim_results=true"
    assert "sekrit99" not in label_of("assemblyai?api_key=sekrit99, local")


# -- the command ---------------------------------------------------------------------------


async def test_the_command_prints_a_table_and_writes_json_and_a_self_contained_page(
    oracle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json, out_html = tmp_path / "c.json", tmp_path / "c.html"
    async with TelnyxEmulator() as emu:
        args = ["compare", str(oracle), "--stt", "tx=" + config("telnyx", emu), "--reference", SAID]
        args += ["--price", "telnyx=3.6", "--json", str(out_json), "--html", str(out_html), "--no-progress"]
        code = await asyncio.to_thread(main, args)
    out = capsys.readouterr().out
    assert code == EXIT_OK
    row = next(line for line in out.splitlines() if line.startswith("tx "))
    assert "0.0%" in row and "audio" in row
    doc = json.loads(out_json.read_text())
    assert doc["schema"] == "speechkit.compare/1" and doc["runs"][0]["transcript"] == SAID
    keys = set(re.findall(r'"(\w+)":', JSON_SCHEMA.split('"providers"')[1].split('"runs"')[0]))
    assert set(doc["providers"][0]) == keys  # the documented fields, no more, no fewer
    page = out_html.read_text()
    assert "<svg" in page and "tx" in page
    assert not re.search(r"<script|src=|href=|@import|url\(", page)  # nothing fetched
    for text in (out, json.dumps(doc), page):
        assert emu.api_key not in text


def test_a_failed_run_is_reported_and_the_exit_code_is_1(
    oracle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.wav"
    assert main(["compare", str(missing), "--stt", "local", "--no-progress"]) == EXIT_FAILURE
    assert "failed: " in capsys.readouterr().out


def test_a_bad_config_string_fails_before_any_audio_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "nosuchfile.wav", "--stt", "nosuchprovider", "--no-progress"]) == EXIT_CONFIG
    assert "nosuchprovider" in capsys.readouterr().err


def test_the_page_shows_every_provider_even_without_samples() -> None:
    page = render_page(summarise([("a", "local")], [], PriceTable()), {"realtime": False, "concurrency": 1})
    assert "no samples" in page and "no reference" in page


def test_the_command_imports_no_wer_library_until_a_reference_asks_for_one() -> None:
    code = (
        "import sys, speechkit.compare.command\n"
        "print(*(m in sys.modules for m in ('jiwer', 'whisper_normalizer')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["False", "False"]


def test_files_of_one_name_in_two_folders_keep_the_folder_that_tells_them_apart() -> None:
    names = short_names(["/d/jfk.wav", "/d/mulaw8k/jfk.wav", "/d/beckett.wav"])
    assert list(names.values()) == ["d/jfk.wav", "mulaw8k/jfk.wav", "beckett.wav"]
