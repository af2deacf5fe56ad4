"""urls: strict parsing, the normalisation table, addresses."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute import urls
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidURL, NoteError

KEY = SigningKey(bytes(range(32)))
A = KEY.authority
BASE = f"note://{A}"

# (input, normal form)
NORMALISATION = [
    (f"{BASE}", f"{BASE}/"),
    (f"{BASE}/", f"{BASE}/"),
    (f"{BASE}/a/b", f"{BASE}/a/b"),
    (f"{BASE}/a/b/", f"{BASE}/a/b"),  # trailing slash removed
    (f"NOTE://{A.upper()}/Path", f"{BASE}/Path"),  # scheme and authority case-folded, path kept
    (f"Note://{A}/x", f"{BASE}/x"),
    (f"{BASE}//a///b//", f"{BASE}/a/b"),  # empty segments collapsed
    (f"{BASE}/./a/./b/.", f"{BASE}/a/b"),
    (f"{BASE}/a/../b", f"{BASE}/b"),
    (f"{BASE}/a/b/../../c", f"{BASE}/c"),
    (f"{BASE}/a/..", f"{BASE}/"),
    (f"{BASE}/%7Euser/%41%62c", f"{BASE}/~user/Abc"),  # unreserved escapes decoded
    (f"{BASE}/a%2fb", f"{BASE}/a%2Fb"),  # escaped slash kept, hex upper-cased
    (f"{BASE}/a%2e%2E/b", f"{BASE}/a../b"),
    (f"{BASE}/a/%2e%2e/b", f"{BASE}/b"),  # escaped dots decoded before dot removal
    (f"{BASE}/hello world", f"{BASE}/hello%20world"),
    (f"{BASE}/caf\u00e9", f"{BASE}/caf%C3%A9"),
    (f"{BASE}/caf%c3%a9", f"{BASE}/caf%C3%A9"),
    (f"{BASE}/%ff", f"{BASE}/%FF"),  # non-UTF-8 octets are fine
    (f"{BASE}/a:b@c!$&'()*+,;=", f"{BASE}/a:b@c!$&'()*+,;="),
    (f"{BASE}/[x]", f"{BASE}/%5Bx%5D"),
    (f"{BASE}/back\\slash", f"{BASE}/back%5Cslash"),
    (f"{BASE}/\u2603", f"{BASE}/%E2%98%83"),
    (f"{BASE}/%00", f"{BASE}/%00"),
]


@pytest.mark.parametrize("raw,normal", NORMALISATION)
def test_normalisation_table(raw: str, normal: str) -> None:
    assert urls.normalize(raw) == normal
    assert urls.normalize(normal) == normal  # idempotent
    assert urls.is_normal(normal)
    assert urls.address(raw) == hashlib.sha256(b"note-compute/v1/addr-record\x00" + normal.encode()).digest()
    u = urls.parse(raw)
    assert str(u) == normal and u.authority == A and u.public_key == KEY.public_key


@pytest.mark.parametrize(
    "raw,reason",
    [
        (f"http://{A}/x", "scheme"),
        (f"note:{A}/x", "scheme"),
        (f"{A}/x", "scheme"),
        ("note:///x", "authority"),
        ("note://abc/x", "authority"),
        (f"note://{A[:-1]}b/x", "authority"),  # non-canonical base32 padding bits
        (f"note://{A}x/y", "authority"),
        (f"note://user@{A}/x", "userinfo"),
        (f"note://{A}:443/x", "port"),
        (f"{BASE}/x?q=1", "query"),
        (f"{BASE}/x#frag", "fragment"),
        (f"{BASE}/..", "dot-segment"),
        (f"{BASE}/a/../../b", "dot-segment"),
        (f"{BASE}/%2e%2e/b", "dot-segment"),
        (f"{BASE}/%", "percent-encoding"),
        (f"{BASE}/%4", "percent-encoding"),
        (f"{BASE}/%zz", "percent-encoding"),
        (f"{BASE}/%%41", "percent-encoding"),
        (f"{BASE}/\ud800", "unicode"),
        (f"{BASE}/x\n", "control-character"),
        (f"{BASE}/a\tb", "control-character"),
        (f"{BASE}/\x00", "control-character"),
        (f"{BASE}/\x7f", "control-character"),
        (f"{BASE}/" + "a" * 3000, "too-long"),
        (f"{BASE}/" + "\u00e9" * 700, "too-long"),  # fine as input, too long once encoded
        ("x" * 9000, "too-long"),
    ],
)
def test_refusals(raw: str, reason: str) -> None:
    with pytest.raises(InvalidURL) as e:
        urls.parse(raw)
    assert e.value.reason == reason
    assert str(e.value)  # a message for humans


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidURL):
        urls.parse(b"note://x")  # type: ignore[arg-type]


def test_length_cap_is_on_the_normal_form() -> None:
    path = "a" * (urls.MAX_URL_LENGTH - len(BASE) - 1)
    assert len(urls.normalize(f"{BASE}/{path}")) == urls.MAX_URL_LENGTH
    with pytest.raises(InvalidURL):
        urls.normalize(f"{BASE}/{path}a")


def test_make_url() -> None:
    assert urls.make_url(A, "programs/search") == f"{BASE}/programs/search"
    assert urls.make_url(A, "/datasets/x/") == f"{BASE}/datasets/x"
    assert urls.make_url(A, "") == f"{BASE}/"
    with pytest.raises(InvalidURL):
        urls.make_url(A, "a?b")
    with pytest.raises(InvalidURL):
        urls.make_url("nope", "a")


def test_addresses_differ_and_are_32_bytes() -> None:
    a, b = urls.address(f"{BASE}/a"), urls.address(f"{BASE}/b")
    assert len(a) == 32 and a != b
    assert urls.parse(f"{BASE}/a").address == a


@settings(max_examples=500)
@given(st.text(max_size=80))
def test_any_text_parses_or_raises_typed(text: str) -> None:
    for candidate in (text, f"{BASE}/{text}", f"note://{text}"):
        try:
            u = urls.parse(candidate)
        except NoteError:
            continue
        normal = str(u)
        assert urls.is_normal(normal)
        assert urls.normalize(normal) == normal
        assert normal.isascii()


@settings(max_examples=300)
@given(st.lists(st.text(alphabet="ab./%2eE~ \u00e9", max_size=6), max_size=6))
def test_normalisation_is_idempotent(segments: list[str]) -> None:
    try:
        normal = urls.normalize(BASE + "/" + "/".join(segments))
    except InvalidURL:
        return
    assert urls.normalize(normal) == normal
    assert urls.is_normal(normal)
    assert not normal.endswith("/") or normal == BASE + "/"


def test_is_normal_rejects_unnormalised_forms() -> None:
    for raw, normal in NORMALISATION:
        assert urls.is_normal(raw) == (raw == normal)


@settings(max_examples=500)
@given(st.lists(st.text(alphabet="aZ9-._~!$&'()*+,;=:@%2eEfF/ \u00e9", max_size=5), max_size=5))
def test_fast_path_agrees_with_the_full_parser(segments: list[str]) -> None:
    candidate = BASE + "/" + "/".join(segments)
    try:
        slow = str(urls._parse_slow(candidate))
    except InvalidURL:
        assert not urls.is_normal(candidate)
        return
    assert urls.is_normal(candidate) == (slow == candidate)
    assert str(urls.parse(candidate)) == slow


def test_is_normal_checks_the_authority_padding_bits() -> None:
    bad = f"note://{A[:-1]}b/x"
    assert not urls.is_normal(bad)
    with pytest.raises(InvalidURL):
        urls.parse(bad)
