from note_compute.encoding import decode, encode


def test_round_trip_map():
    value = {"url": "note://a/b", "seq": 3, "value": b"x"}
    assert decode(encode(value)) == value
