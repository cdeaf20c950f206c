"""The MTOM/XOP codec: the official DMP sample, round trips, and every refusal with its reason."""

from __future__ import annotations

import base64
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from harness.protocols import mtom

TD21 = "dmp/messages/TD2.1_-_Alimentation_requete.xml"
TD21_BOUNDARY = "----=_Part_9_20030738.1554380517598"
TD21_TYPE = (
    'multipart/related; type="application/xop+xml"; start="<rootpart@soapui.org>"; '
    f'start-info="application/soap+xml"; boundary="{TD21_BOUNDARY}"'
)
CDA_ID = "WS_DMP_TD2.1-DocumentME2.xml"
SIGNATURE_ID = "WS_DMP_TD2.1-SignatureXades.xml"
XDSB = "urn:ihe:iti:xds-b:2007"

BOUNDARY = "b0undary"
CONTENT_TYPE = f'multipart/related; type="application/xop+xml"; boundary="{BOUNDARY}"'


def part(content_id: str | None, body: bytes, *extra: str, eol: bytes = b"\r\n") -> bytes:
    """One part as a client would write it, preceded by its delimiter line."""
    headers = ["Content-Type: application/octet-stream", *extra]
    if content_id is not None:
        headers.append(f"Content-ID: <{content_id}>")
    head = eol.join([f"--{BOUNDARY}".encode(), *(h.encode() for h in headers), b"", b""])
    return head + body + eol


def message(*parts: bytes, eol: bytes = b"\r\n") -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--".encode() + eol


def envelope_with(*content_ids: str) -> bytes:
    body = etree.Element(f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest")
    for content_id in content_ids:
        etree.SubElement(body, f"{{{XDSB}}}Document", id=content_id).append(mtom.xop_include(content_id))
    return etree.tostring(body)


# -- the official sample ----------------------------------------------------------------------


def test_official_td21_sample_parses_and_resolves(reference):
    raw = (reference / TD21).read_bytes()
    assert raw.startswith(f"--{TD21_BOUNDARY}\n".encode())  # LF endings, no preamble
    parsed = mtom.parse_multipart(raw, TD21_TYPE)

    assert parsed.root.content_id == "rootpart@soapui.org"
    assert parsed.root.content_type.startswith("application/xop+xml")
    assert parsed.root.headers["content-transfer-encoding"] == "8bit"
    assert set(parsed.attachments) == {CDA_ID, SIGNATURE_ID}
    envelope = etree.fromstring(parsed.root.body)
    assert etree.QName(envelope).localname == "Envelope"
    assert parsed.root.body.endswith(b"</soap:Envelope>")  # the LF before the delimiter is not content

    resolved = mtom.resolve_includes(envelope, parsed)
    assert set(resolved) == {CDA_ID, SIGNATURE_ID}
    assert resolved[CDA_ID].startswith(b"<ClinicalDocument")
    assert resolved[SIGNATURE_ID].endswith(b"</Signature>")
    assert etree.QName(etree.fromstring(resolved[CDA_ID])).localname == "ClinicalDocument"

    documents = envelope.findall(f".//{{{XDSB}}}Document")
    assert [mtom.include_content(d, parsed) for d in documents] == [resolved[CDA_ID], resolved[SIGNATURE_ID]]


def test_official_sample_with_crlf_and_without_start_reads_the_same(reference):
    raw = (reference / TD21).read_bytes()
    lf = mtom.parse_multipart(raw, TD21_TYPE)
    unquoted = f"multipart/related; type=application/xop+xml; boundary={TD21_BOUNDARY}"
    crlf = mtom.parse_multipart(raw.replace(b"\n", b"\r\n"), unquoted)
    assert crlf.root.content_id == "rootpart@soapui.org"  # first part is the root without start
    assert crlf.root.body == lf.root.body.replace(b"\n", b"\r\n")
    assert set(crlf.attachments) == set(lf.attachments)
    for content_id, attachment in crlf.attachments.items():
        assert attachment.body == lf.attachments[content_id].body.replace(b"\n", b"\r\n")


def test_xop_include_encodes_like_the_dmp(reference):
    answer = etree.parse(str(reference / "dmp/messages/TD3.2_-_Consultation_dun_document_reponse.xml"))
    official = answer.find(f".//{{{mtom.XOP_NS}}}Include")
    assert official is not None
    href = official.get("href")
    assert href is not None
    content_id = mtom.cid_from_href(href)
    assert content_id == "b857abb7-a2c3-4db8-bd69-d5ff76826e72-2@urn:ihe:iti:xds-b:2007"
    assert mtom.xop_include(content_id).get("href") == href


# -- building and round trips -----------------------------------------------------------------


def test_round_trip_binary_data_with_crlf_and_nul():
    awkward = b"\r\n--\r\n\x00\xff\n\r--MIMEBoundary_\r\n\x00" * 3 + b"\r\n"
    root = envelope_with("doc@x", "sig@x")
    body, content_type = mtom.build_multipart(
        root, [("doc@x", "text/xml", awkward), ("sig@x", "application/octet-stream", b"")], soap_action="urn:a"
    )
    assert b"\r\n\r\n" in body and body.endswith(b"--\r\n")
    assert mtom.is_multipart(content_type)
    parsed = mtom.parse_multipart(body, content_type)

    assert parsed.root.content_id == mtom.ROOT_CONTENT_ID
    assert parsed.root.body == root
    assert parsed.root.headers["content-transfer-encoding"] == "binary"
    assert parsed.root.content_type == (
        'application/xop+xml; charset=UTF-8; type="application/soap+xml"; action="urn:a"'
    )
    assert parsed.attachments["doc@x"].body == awkward
    assert parsed.attachments["doc@x"].content_type == "text/xml"
    assert parsed.attachments["sig@x"].body == b""
    assert mtom.resolve_includes(etree.fromstring(parsed.root.body), parsed) == {"doc@x": awkward, "sig@x": b""}


def test_build_content_type_header():
    _, content_type = mtom.build_multipart(b"<e/>", [], soap_content_type="text/xml")
    media, _, rest = content_type.partition(";")
    assert media == "multipart/related"
    assert 'type="application/xop+xml"' in rest
    assert f'start="<{mtom.ROOT_CONTENT_ID}>"' in rest
    assert 'start-info="text/xml"' in rest
    assert 'boundary="MIMEBoundary_' in rest


def test_build_picks_a_boundary_absent_from_the_parts(monkeypatch):
    taken, fresh = uuid.UUID(int=1), uuid.UUID(int=2)
    ids = iter([taken, fresh])
    monkeypatch.setattr(mtom.uuid, "uuid4", lambda: next(ids))
    data = f"contains MIMEBoundary_{taken.hex} inside".encode()
    body, content_type = mtom.build_multipart(b"<e/>", [("a@x", "text/plain", data)])
    assert fresh.hex in content_type and taken.hex not in content_type
    assert mtom.parse_multipart(body, content_type).attachments["a@x"].body == data


@pytest.mark.parametrize(
    ("attachments", "action", "problem"),
    [
        ([("a@x\r\nX-Evil: 1", "text/xml", b"")], None, "Content-ID"),
        ([("<a@x>", "text/xml", b"")], None, "Content-ID"),
        ([("", "text/xml", b"")], None, "Content-ID"),
        ([("a@x", "text/xml\r\nX-Evil: 1", b"")], None, "Content-Type"),
        ([("a@x", "text/xml", b""), ("a@x", "text/xml", b"")], None, "duplicate Content-ID"),
        ([(mtom.ROOT_CONTENT_ID, "text/xml", b"")], None, "duplicate Content-ID"),
        ([], "urn:a\r\nX-Evil: 1", "printable ASCII"),
    ],
)
def test_build_refuses_values_that_would_break_the_headers(attachments, action, problem):
    with pytest.raises(mtom.MtomError, match=problem):
        mtom.build_multipart(b"<e/>", attachments, soap_action=action)


def test_build_escapes_quotes_in_the_action():
    body, content_type = mtom.build_multipart(b"<e/>", [], soap_action='urn:"odd"\\')
    assert mtom.parse_multipart(body, content_type).root.content_type.endswith('action="urn:\\"odd\\"\\\\"')


# -- splitting --------------------------------------------------------------------------------


def test_boundary_lookalikes_stay_in_the_body():
    tricky = (
        f"line\r\n--{BOUNDARY[:-1]}\r\n"  # a prefix of the delimiter
        f"--{BOUNDARY}X\r\n"  # the delimiter followed by more characters
        f"--{BOUNDARY}--tail\r\n"  # a closing lookalike followed by more characters
        f"text --{BOUNDARY}\r\n"  # the delimiter, but not at the start of a line
        "end"
    ).encode()
    parsed = mtom.parse_multipart(message(part("root@x", b"<e/>"), part("a@x", tricky)), CONTENT_TYPE)
    assert parsed.attachments["a@x"].body == tricky


def test_preamble_epilogue_padding_and_lf_endings():
    body = (
        b"This is a preamble.\n--" + BOUNDARY.encode() + b"\n"
        b"Content-ID: <root@x>\n\n<e/>\n"
        b"--" + BOUNDARY.encode() + b" \t\n"  # transport padding after the boundary
        b"Content-ID: <a@x>\n\nA\n"
        b"--" + BOUNDARY.encode() + b"--  \nepilogue, ignored\n"
    )
    parsed = mtom.parse_multipart(body, CONTENT_TYPE)
    assert parsed.root.body == b"<e/>"
    assert parsed.root.content_type == "text/plain; charset=us-ascii"  # RFC 2046 default
    assert parsed.attachments["a@x"].body == b"A"


def test_lf_message_keeps_a_body_ending_in_crlf():
    lf = b"\n"
    body = message(part("root@x", b"<e/>", eol=lf), part("a@x", b"A\r\n", eol=lf), part("b@x", b"B\n", eol=lf), eol=lf)
    parsed = mtom.parse_multipart(body, CONTENT_TYPE)
    assert parsed.root.body == b"<e/>"
    assert parsed.attachments["a@x"].body == b"A\r\n"  # only the one line break before the delimiter goes
    assert parsed.attachments["b@x"].body == b"B\n"


def test_part_without_body_and_empty_part_body():
    body = (
        f"--{BOUNDARY}\r\nContent-ID: <root@x>\r\n\r\n<e/>\r\n"
        f"--{BOUNDARY}\r\nContent-ID: <a@x>\r\n\r\n"  # headers only: the delimiter's CRLF ends them
        f"--{BOUNDARY}\r\nContent-ID: <b@x>\r\n\r\n\r\n"  # separator line, empty body
        f"--{BOUNDARY}--"
    ).encode()
    parsed = mtom.parse_multipart(body, CONTENT_TYPE)
    assert parsed.attachments["a@x"].body == b""
    assert parsed.attachments["b@x"].body == b""


def test_headers_are_case_insensitive_and_may_be_folded():
    raw = part(None, b"x", "CONTENT-id:\r\n <a@x>", "X-Note: one", "x-note: two", "Content-Description: a\r\n\tb")
    parsed = mtom.parse_multipart(message(part("root@x", b"<e/>"), raw), CONTENT_TYPE)
    headers = parsed.attachments["a@x"].headers
    assert headers["content-id"] == "<a@x>"
    assert headers["x-note"] == "one, two"
    assert headers["content-description"] == "a b"


def test_quoted_parameters_may_hold_semicolons():
    content_type = f'Multipart/Related; start-info="a; b"; boundary="{BOUNDARY}"; start="<a@x>"'
    parsed = mtom.parse_multipart(message(part("root@x", b"<e/>"), part("a@x", b"A")), content_type)
    assert parsed.root.content_id == "a@x"
    assert set(parsed.attachments) == {"root@x"}


def test_is_multipart():
    assert mtom.is_multipart('Multipart/Related; boundary="x"')
    assert mtom.is_multipart("multipart/related")
    assert not mtom.is_multipart("application/soap+xml; charset=utf-8")
    assert not mtom.is_multipart("multipart/form-data; boundary=x")


# -- transfer encodings -----------------------------------------------------------------------


def test_base64_transfer_encoding():
    data = bytes(range(256))
    encoded = base64.encodebytes(data)  # with line breaks every 76 characters, as MIME writes it
    raw = part("a@x", encoded.rstrip(b"\n"), "Content-Transfer-Encoding: BASE64")
    parsed = mtom.parse_multipart(message(part("root@x", b"<e/>"), raw), CONTENT_TYPE)
    assert parsed.attachments["a@x"].body == data


def test_quoted_printable_transfer_encoding():
    raw = part("a@x", b"caf=C3=A9 =3D soft=\r\nbreak", "Content-Transfer-Encoding: quoted-printable")
    parsed = mtom.parse_multipart(message(part("root@x", b"<e/>"), raw), CONTENT_TYPE)
    assert parsed.attachments["a@x"].body == "café = softbreak".encode()


def test_bad_base64_part():
    raw = part("a@x", b"not base64!", "Content-Transfer-Encoding: base64")
    with pytest.raises(mtom.MtomError, match="invalid base64"):
        mtom.parse_multipart(message(part("root@x", b"<e/>"), raw), CONTENT_TYPE)


def test_unknown_transfer_encoding():
    raw = part("a@x", b"x", "Content-Transfer-Encoding: x-uuencode")
    with pytest.raises(mtom.MtomError, match="unsupported Content-Transfer-Encoding 'x-uuencode'"):
        mtom.parse_multipart(message(part("root@x", b"<e/>"), raw), CONTENT_TYPE)


# -- refusals ---------------------------------------------------------------------------------

GOOD = message(part("root@x", b"<e/>"), part("a@x", b"A"))


@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        (GOOD, 'multipart/related; type="application/xop+xml"', "without boundary parameter"),
        (GOOD, "application/soap+xml; boundary=b0undary", "not multipart/related"),
        (GOOD, f'multipart/related; boundary="{"x" * 71}"', "invalid MIME boundary"),
        (GOOD, f'multipart/related; boundary="{BOUNDARY}', "unterminated quoted value"),
        (GOOD, f"multipart/related; boundary={BOUNDARY}; boundary=other", "duplicate Content-Type parameter"),
        (GOOD, f"multipart/related; boundary={BOUNDARY}; junk", "malformed Content-Type parameter"),
        (GOOD, 'multipart/related; boundary="other"', "boundary does not occur"),
        (GOOD[: GOOD.rindex(b"--b0undary--")], CONTENT_TYPE, "truncated"),
        (GOOD[:-4], CONTENT_TYPE, "truncated"),  # closing delimiter cut in the middle
        (GOOD + part("b@x", b"B") + f"--{BOUNDARY}--".encode(), CONTENT_TYPE, "after the closing delimiter"),
        (f"--{BOUNDARY}--\r\n".encode(), CONTENT_TYPE, "no MIME part"),
        (message(part("a@x", b"A"), part("a@x", b"B")), CONTENT_TYPE, "duplicate Content-ID <a@x>"),
        (message(part("root@x", b"<e/>"), part(None, b"B")), CONTENT_TYPE, "part 2 has no Content-ID"),
        (message(part("root@x", b"<e/>"), part("", b"B")), CONTENT_TYPE, "empty Content-ID"),
        (message(part("root@x", b"<e/>"), part("a@x> <b@x", b"B")), CONTENT_TYPE, "malformed Content-ID"),
        (GOOD, f'{CONTENT_TYPE}; start="<nowhere@x>"', "start parameter <nowhere@x> names no MIME part"),
        (f"--{BOUNDARY}\r\nContent-ID: <a@x>\r\n--{BOUNDARY}--".encode(), CONTENT_TYPE, "not terminated"),
        (message(part("a@x", b"", "no colon here")), CONTENT_TYPE, "malformed header line"),
        (message(part("a@x", b"", "Content-ID: <b@x>")), CONTENT_TYPE, "duplicate content-id header"),
        (f"--{BOUNDARY}\r\n continued\r\n\r\n--{BOUNDARY}--".encode(), CONTENT_TYPE, "continuation line"),
        (f"--{BOUNDARY}\r\nX-Bad: \xe9\r\n\r\n--{BOUNDARY}--".encode("latin-1"), CONTENT_TYPE, "not UTF-8"),
    ],
)
def test_malformed_messages_are_refused_with_the_reason(body, content_type, problem):
    with pytest.raises(mtom.MtomError, match=problem):
        mtom.parse_multipart(body, content_type)


def test_headers_of_unbounded_length_are_refused():
    raw = f"--{BOUNDARY}\r\nX-Long: ".encode() + b"a" * (70 * 1024) + f"\r\n\r\n\r\n--{BOUNDARY}--".encode()
    with pytest.raises(mtom.MtomError, match="headers longer than"):
        mtom.parse_multipart(raw, CONTENT_TYPE)


def test_too_many_parts():
    parts = [part(f"p{i}@x", b"x") for i in range(6)]
    assert len(mtom.parse_multipart(message(*parts), CONTENT_TYPE, max_parts=6).attachments) == 5
    with pytest.raises(mtom.MtomError, match=r"too many MIME parts \(limit 5\)"):
        mtom.parse_multipart(message(*parts), CONTENT_TYPE, max_parts=5)


def test_oversized_part():
    body = message(part("root@x", b"<e/>"), part("big@x", b"x" * 1001))
    assert mtom.parse_multipart(body, CONTENT_TYPE, max_part_bytes=1001).attachments["big@x"].body == b"x" * 1001
    with pytest.raises(mtom.MtomError, match=r"<big@x> is larger than the limit of 1000 bytes"):
        mtom.parse_multipart(body, CONTENT_TYPE, max_part_bytes=1000)


def test_oversized_part_limit_applies_to_decoded_base64():
    encoded = base64.b64encode(b"y" * 900)  # 1200 characters on the wire, 900 bytes decoded
    body = message(part("root@x", b"<e/>"), part("b@x", encoded, "Content-Transfer-Encoding: base64"))
    assert len(mtom.parse_multipart(body, CONTENT_TYPE, max_part_bytes=1000).attachments["b@x"].body) == 900
    with pytest.raises(mtom.MtomError, match="larger than the limit of 899 bytes"):
        mtom.parse_multipart(body, CONTENT_TYPE, max_part_bytes=899)


# -- XOP includes -----------------------------------------------------------------------------


def parsed_with(*attachments: tuple[str, bytes]) -> mtom.MultipartMessage:
    body, content_type = mtom.build_multipart(b"<e/>", [(cid, "text/xml", data) for cid, data in attachments])
    return mtom.parse_multipart(body, content_type)


def test_href_to_a_missing_part():
    root = etree.fromstring(envelope_with("doc@x", "missing@x"))
    with pytest.raises(mtom.MtomError, match="cid:missing@x, but no MIME part has that Content-ID"):
        mtom.resolve_includes(root, parsed_with(("doc@x", b"D")))


def test_include_without_href():
    root = etree.fromstring(envelope_with("doc@x"))
    include = root.find(f".//{{{mtom.XOP_NS}}}Include")
    assert include is not None
    del include.attrib["href"]
    with pytest.raises(mtom.MtomError, match="xop:Include without href"):
        mtom.resolve_includes(root, parsed_with(("doc@x", b"D")))


def test_href_that_is_not_a_cid_url():
    root = etree.fromstring(envelope_with("doc@x"))
    include = root.find(f".//{{{mtom.XOP_NS}}}Include")
    assert include is not None
    include.set("href", "http://example.org/doc")
    with pytest.raises(mtom.MtomError, match="is not a cid: URL"):
        mtom.resolve_includes(root, parsed_with(("doc@x", b"D")))


def document(content: str) -> etree._Element:
    return etree.fromstring(f'<Document xmlns:xop="{mtom.XOP_NS}">{content}</Document>')


def test_include_content_attachment_inline_and_empty():
    parsed = parsed_with(("doc@x", b"attached"))
    assert mtom.include_content(document('\n  <xop:Include href="cid:doc%40x"/>\n'), parsed) == b"attached"
    inline = base64.encodebytes(b"\x00inline bytes\r\n" * 10).decode()
    assert mtom.include_content(document(f"\n{inline}<!-- a comment -->\n"), parsed) == b"\x00inline bytes\r\n" * 10
    assert mtom.include_content(document(" QU\n  I= "), parsed) == b"AB"
    assert mtom.include_content(document("QQ=="), parsed) == b"A"
    assert mtom.include_content(document(" \n "), parsed) is None
    assert mtom.include_content(document("<!-- nothing -->"), parsed) is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not base64 at all!", "not valid base64"),
        ("QUJD=", "not valid base64"),  # excess padding
        ("QUJD====", "not valid base64"),
        ("Q===", "not valid base64"),
        ("QUJ", "not valid base64"),  # missing padding
        ("Q\u00e9JD", "not valid base64"),  # non-ASCII character
        ('<xop:Include href="cid:doc@x"/><xop:Include href="cid:doc@x"/>', "2 xop:Include elements"),
        ('QUJD<xop:Include href="cid:doc@x"/>', "mixes an xop:Include with inline text"),
        ("<Other/>", "unexpected element Other"),
        ('<xop:Include href="cid:gone@x"/>', "cid:gone@x, but no MIME part"),
        ("<xop:Include/>", "without href"),
    ],
)
def test_include_content_refusals(content, problem):
    with pytest.raises(mtom.MtomError, match=problem):
        mtom.include_content(document(content), parsed_with(("doc@x", b"D")))


def test_include_content_with_no_attachments_at_all():
    empty = mtom.MultipartMessage(mtom.MimePart(None, "", {}, b""), {})
    with pytest.raises(mtom.MtomError, match="cid:doc@x"):
        mtom.include_content(document('<xop:Include href="cid:doc@x"/>'), empty)


# -- cid: URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_id", "href"),
    [
        ("abc@x", "cid:abc@x"),
        ("a b@x", None),  # spaces are not allowed in a Content-ID we build
        ("1.2.3@urn:ihe:iti:xds-b:2007", "cid:1.2.3@urn%3Aihe%3Aiti%3Axds-b%3A2007"),
        ("a/b%c?d#e&f=g+h@x", "cid:a%2Fb%25c%3Fd%23e%26f%3Dg%2Bh@x"),
        ("WS_DMP_TD2.1-DocumentME2.xml", "cid:WS_DMP_TD2.1-DocumentME2.xml"),
    ],
)
def test_cid_percent_encoding_round_trip(content_id, href):
    if href is None:
        with pytest.raises(mtom.MtomError, match="without spaces"):
            mtom.xop_include(content_id)
        return
    include = mtom.xop_include(content_id)
    assert include.tag == f"{{{mtom.XOP_NS}}}Include"
    assert include.get("href") == href
    assert mtom.cid_from_href(href) == content_id
    assert etree.fromstring(etree.tostring(include)).get("href") == href


def test_cid_from_href():
    assert mtom.cid_from_href("cid:abc%40x") == "abc@x"
    assert mtom.cid_from_href(" CID:abc@x ") == "abc@x"
    assert mtom.cid_from_href("cid:caf%C3%A9@x") == "café@x"
    for href, problem in [
        ("abc@x", "not a cid: URL"),
        ("mid:abc@x", "not a cid: URL"),
        ("cid:", "names no Content-ID"),
        ("cid:%FF@x", "not valid percent-encoded UTF-8"),
    ]:
        with pytest.raises(mtom.MtomError, match=problem):
            mtom.cid_from_href(href)


# -- properties -------------------------------------------------------------------------------

# Fragments that stress the splitter: line breaks, dashes, NULs and our own boundary prefix.
awkward_bytes = st.lists(
    st.sampled_from([b"\r\n", b"\n", b"\r", b"--", b"\x00", b"MIMEBoundary_", b" ", b"\t"]) | st.binary(max_size=16),
    max_size=30,
).map(b"".join)
content_ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789.-_@:/%", min_size=1, max_size=20)


@given(
    root=awkward_bytes,
    attachments=st.lists(st.tuples(content_ids, awkward_bytes | st.binary()), max_size=4, unique_by=lambda a: a[0]),
)
def test_build_parse_round_trips_any_bytes(root, attachments):
    body, content_type = mtom.build_multipart(root, [(cid, "application/octet-stream", d) for cid, d in attachments])
    parsed = mtom.parse_multipart(body, content_type)
    assert parsed.root.content_id == mtom.ROOT_CONTENT_ID
    assert parsed.root.body == root
    assert {cid: p.body for cid, p in parsed.attachments.items()} == dict(attachments)
    for cid, _ in attachments:
        href = mtom.xop_include(cid).get("href")
        assert href is not None and mtom.cid_from_href(href) == cid


CONTENT_ID_LINES = [b"Content-ID: <a@x>", b"Content-ID: <b@x>", b"Content-ID: <c@x>", b"Content-ID: d@x"]
HEADER_LINES = [
    *CONTENT_ID_LINES,
    b"Content-Type: text/xml",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Transfer-Encoding: x-unknown",
    b" folded",
    b"not a header",
]
fragments = st.lists(
    st.sampled_from([b"--b0undary", b"--b0undary--", b"\r\n", b"\n", b" ", b"QUJD", b"=", b"=41"])
    | st.binary(max_size=8),
    max_size=12,
).map(b"".join)


@st.composite
def damaged_messages(draw: st.DrawFn) -> bytes:
    """Mostly well-formed messages with random headers, bodies and one random insertion."""
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    chunks = [draw(fragments)] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 6))):
        headers = [draw(st.sampled_from(CONTENT_ID_LINES)), *draw(st.lists(st.sampled_from(HEADER_LINES), max_size=2))]
        chunks.append(eol.join([b"--b0undary", *headers, b"", draw(fragments)]))
    if draw(st.integers(0, 4)):
        chunks.append(b"--b0undary--")
    body = eol.join(chunks)
    if not draw(st.integers(0, 3)):
        where = draw(st.integers(0, len(body)))
        body = body[:where] + draw(fragments) + body[where:]
    return body


@given(damaged_messages())
def test_parse_never_fails_other_than_with_mtom_error(body):
    try:
        parsed = mtom.parse_multipart(body, f"{CONTENT_TYPE}; start=<a@x>", max_parts=5, max_part_bytes=64)
    except mtom.MtomError as error:
        assert str(error)
    else:
        assert parsed.root.content_id == "a@x"
        assert "a@x" not in parsed.attachments and len(parsed.attachments) <= 4
        assert all(len(p.body) <= 64 for p in (parsed.root, *parsed.attachments.values()))
