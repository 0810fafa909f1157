"""The pipe format: arrays cross bit for bit; anything else is refused before it is trusted."""
import json
import os
import struct

import numpy as np
import pytest

from crosscheck.audit import protocol


def _pipe_with(data: bytes) -> protocol.Stream:
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return protocol.Stream(r)


def test_arrays_and_structures_cross_bit_for_bit():
    value = {"W1": np.arange(6.0).reshape(2, 3) / 7, "pairs": [(np.float32(1.5), None)], "n": 3, "s": "x"}
    header, back, nonce = _pipe_with(protocol.encode({"op": "return"}, value, b"n" * 16)).receive()
    assert nonce == b"n" * 16 and header["op"] == "return"
    assert back["W1"].tobytes() == value["W1"].tobytes() and back["pairs"][0][1] is None
    assert back["pairs"][0][0].dtype == np.float32 and back["n"] == 3 and back["s"] == "x"


def _message(header: dict, payload: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return protocol.MAGIC + bytes(16) + struct.pack(">I", len(text)) + text + payload


@pytest.mark.parametrize("header, words", [
    ({"arrays": [{"dtype": "|O", "shape": [1]}], "value": {"t": "array", "i": 0}}, "only bool, int"),
    ({"arrays": [{"dtype": "<f8", "shape": [2**40]}], "value": {"t": "none"}}, "over the limit"),
    ({"arrays": [], "value": {"t": "array", "i": 3}}, "a reference to array 3"),
    ({"arrays": [], "value": {"t": "pickle", "v": "..."}}, "unknown kind"),
])
def test_what_is_not_plain_data_is_refused(header, words):
    with pytest.raises(protocol.ProtocolError, match=words):
        _pipe_with(_message(header)).receive()


def test_bytes_written_on_the_side_are_skipped_until_the_answer_with_the_nonce():
    forged = _message({"op": "return", "arrays": [], "value": {"t": "str", "v": "agree"}}) + b"junk\x00XC1"
    real = protocol.encode({"op": "return"}, 42, b"k" * 16)
    stream = _pipe_with(forged + real)
    header, value, _ = stream.receive(b"k" * 16)
    assert value == 42 and stream.skipped == len(forged)
