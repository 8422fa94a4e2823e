#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into fuzz/seeds/<target>/.

- ws_protocol: every JSON object in the ```json blocks and `→` lines of
  docs/protocol.md (requests and server messages alike: the latter are
  unknown types to the parser), one file each.
- line_codec: hand-written sessions of a telnet or nc client, in the
  target's input layout (byte 0 the line limit, byte 1 the number of chunk
  lengths that follow, then the bytes sent).

Run from anywhere: python3 fuzz/seeds.py. The seeds are small and
committed; the corpus the fuzzer grows from them (fuzz/corpus/) is not.
"""

import hashlib
import json
import pathlib
import re

FUZZ = pathlib.Path(__file__).resolve().parent
DOCS = FUZZ.parent / "docs" / "protocol.md"


def write(target, items):
    out = FUZZ / "seeds" / target
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    for data in items:
        name = hashlib.sha1(data).hexdigest()[:16]
        (out / name).write_bytes(data)
    print(f"{target}: {len(items)} seeds in {out}")


def ws_seeds():
    text = DOCS.read_text()
    chunks = re.findall(r"```json\n(.*?)```", text, re.S)
    chunks += re.findall(r"^→ (.*)$", text, re.M)
    decoder = json.JSONDecoder()
    seen, seeds = set(), []
    for chunk in chunks:
        i = 0
        while True:
            start = chunk.find("{", i)
            if start < 0:
                break
            try:
                obj, end = decoder.raw_decode(chunk, start)
            except json.JSONDecodeError:
                i = start + 1  # e.g. `{…}`, elided in the docs
                continue
            i = end
            if isinstance(obj, dict) and "type" in obj:
                data = chunk[start:end].encode()
                if data not in seen:
                    seen.add(data)
                    seeds.append(data)
    assert len(seeds) > 40, f"only {len(seeds)} examples found in {DOCS}"
    return seeds


def line_seed(sent, limit=250, cuts=()):
    """Byte 0 is the limit (250..255: the default 4096), byte 1 the number
    of chunk lengths, then the lengths and the bytes sent."""
    return bytes([limit, len(cuts), *cuts]) + sent


def line_seeds():
    return [
        line_seed(b"alice\r\n/join #rust\r\nhello there\r\n/quit bye\r\n"),
        line_seed(b"/nick bob\n/msg @alice hi\n/me waves\n/topic crabs\n/topic -\n"),
        line_seed(b"/login alice correct-horse\r\n/register pw\r\n/history 5\r\n"),
        line_seed(b"/part #rust see you\r\n/list #rust\r\n/whois @bob\r\n/search zebra\r\n"),
        line_seed(b"/away lunch\r\n/away\r\n/ignore @troll\r\n/unignore @troll\r\n"),
        line_seed(b"/help join\r\n/commands\r\n/time\r\n/rooms\r\n/users\r\n//slash\r\n"),
        line_seed(b"/start @bob\r\n/stop\r\n/unknown thing\r\n/join #a #b\r\n"),
        # Line ends: CR LF, CR NUL, lone CR, lone LF.
        line_seed(b"a\r\nb\nc\r\x00d\re\r\n\n", cuts=(3, 1, 4)),
        # Telnet: DO ECHO, WILL NAWS, SB NAWS … SE, NOP, IAC IAC.
        line_seed(
            b"\xff\xfd\x01hi\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0 there\xff\xf1\r\n"
            b"\xff\xfa\x18\xff\xff\x01\xff\xf0ok\n",
            cuts=(1, 2, 5),
        ),
        # Backspace and DEL over UTF-8.
        line_seed("helo\x08\x08llo wörld\x7f\x7fld\r\n".encode(), cuts=(6,)),
        # Invalid UTF-8, then a fine line.
        line_seed(b"ok\n\xc3\x28\nfine\n"),
        # Over a small limit.
        line_seed(b"abcd\nabcdefghij\nok\n", limit=4, cuts=(7, 7)),
        line_seed(b"x" * 300 + b"\r\n/join #" + b"r" * 60 + b"\r\n", limit=200),
        # A message over 1024 bytes at the default limit.
        line_seed(b"/msg #rust " + "é".encode() * 600 + b"\r\n"),
    ]


if __name__ == "__main__":
    write("ws_protocol", ws_seeds())
    write("line_codec", line_seeds())
