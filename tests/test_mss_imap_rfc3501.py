"""RFC 3501 behaviours of the MSSanté IMAP mock that a compliance tester checks.

Dovecot's imaptest is not packaged in Debian and builds only against Dovecot's libraries, so CI
cannot run it; it was run by hand (figures, versions and the scripts it skips in
``profiles/mss/README.md``). The exchanges of the scripts it failed are written here as our own
tests, each with the RFC section it follows.
"""

from __future__ import annotations

import re

import pytest

from tests.test_mss_imap import PASSWORD, SENDER, USER, Env, Raw, env, layout, message

__all__ = ["env", "layout"]

pytestmark = pytest.mark.slow


@pytest.fixture
def raw(env: Env):
    """A logged-in protocol-level session, closed after the test."""
    client = Raw(env.port, env.client_context())
    quoted = PASSWORD.replace('"', '\\"')
    assert client.command("a", f'LOGIN {USER} "{quoted}"')[-1].startswith(b"a OK")
    yield client
    client.command("z", "LOGOUT")
    client.sock.close()


def test_a_new_keyword_is_announced_with_flags_before_fetch_uses_it(env, raw):
    env.store.deliver(USER, message("un"))
    selected = b"".join(raw.command("s", "SELECT INBOX"))
    assert b"\\*" in selected
    lines = raw.command("t", "STORE 1 +FLAGS ($Integre)")
    flags = next(i for i, line in enumerate(lines) if line.startswith(b"* FLAGS"))
    fetch = next(i for i, line in enumerate(lines) if b"FETCH" in line)
    assert b"$Integre" in lines[flags] and flags < fetch  # RFC 3501 §7.2.6
    again = b"".join(raw.command("u", "SELECT INBOX"))
    assert re.search(rb"\* FLAGS \([^)]*\$Integre", again)
    assert re.search(rb"PERMANENTFLAGS \([^)]*\$Integre", again)


def test_an_atom_with_an_open_bracket_is_a_name_not_a_syntax_error(raw):
    assert raw.command("b", "SELECT foo[bar")[-1].startswith(b"b NO")  # "[" is an ATOM-CHAR (RFC 3501 §9)
    assert raw.command("c", "CREATE foo[bar")[-1].startswith(b"c OK")
    assert raw.command("d", "SELECT foo[bar")[-1].startswith(b"d OK")


def test_append_keeps_the_internal_date_it_was_given(env):
    client = env.logged_in()
    client.append("INBOX", None, '"01-Feb-2020 10:00:00 +0100"', message("ancien"))
    client.append("INBOX", None, None, message("recent"))
    client.select("INBOX")
    _, fetched = client.fetch("1", "(INTERNALDATE)")
    assert b'" 1-Feb-2020 09:00:00 +0000"' in fetched[0]
    assert client.search(None, "BEFORE", "02-Feb-2020")[1] == [b"1"]
    assert client.search(None, "ON", "01-Feb-2020")[1] == [b"1"]
    assert client.search(None, "SINCE", "01-Jan-2021")[1] == [b"2"]
    client.create("Archives")
    client.copy("1", "Archives")
    client.select("Archives")
    assert client.search(None, "ON", "01-Feb-2020")[1] == [b"1"]  # COPY keeps the internal date
    client.logout()


def test_each_folder_has_its_own_uidvalidity_and_a_folder_made_again_a_new_one(env):
    client = env.logged_in()
    client.create("Dossier")

    def validity(name: str) -> int:
        _, data = client.status(name, "(UIDVALIDITY)")
        found = re.search(rb"UIDVALIDITY (\d+)", data[0])
        assert found is not None
        return int(found.group(1))

    inbox, folder = validity("INBOX"), validity("Dossier")
    assert inbox != folder
    assert validity("INBOX") == inbox  # stable
    client.delete("Dossier")
    client.create("Dossier")
    assert validity("Dossier") not in (inbox, folder)  # RFC 3501 §2.3.1.1
    client.logout()


def test_delete_of_a_folder_with_messages_deletes_them(env):
    client = env.logged_in()
    client.create("Plein")
    client.append("Plein", None, None, message("dedans"))
    assert client.delete("Plein")[0] == "OK"  # RFC 3501 §6.3.4
    assert client.select("Plein")[0] == "NO"
    assert not env.store.messages(USER, "Plein")
    assert client.delete("INBOX")[0] == "NO"
    client.logout()


def test_rename_moves_the_folder_and_its_messages(env):
    client = env.logged_in()
    client.create("Avant")
    client.append("Avant", None, None, message("a deplacer"))
    assert client.rename("Avant", "Apres")[0] == "OK"  # RFC 3501 §6.3.5
    assert client.select("Avant")[0] == "NO"
    typ, count = client.select("Apres")
    assert typ == "OK" and count == [b"1"]
    assert client.rename("Apres", "INBOX")[0] == "NO"  # the new name exists
    assert client.rename("Absent", "Ailleurs")[0] == "NO"
    client.logout()


def test_lsub_lists_only_subscribed_folders(env):
    client = env.logged_in()
    client.create("Suivi")
    client.create("Ignore")
    client.subscribe("Suivi")
    _, listed = client.lsub()
    names = b" ".join(listed)
    assert b'"Suivi"' in names and b'"INBOX"' in names and b'"Ignore"' not in names
    client.unsubscribe("Suivi")
    _, listed = client.lsub()
    assert b'"Suivi"' not in b" ".join(listed)
    _, everything = client.list()
    assert b'"Ignore"' in b" ".join(everything)  # LIST still lists every folder
    client.logout()


def test_other_sessions_hear_of_flag_changes_and_expunges_on_noop_check_and_idle(env, raw):
    for subject in ("un", "deux", "trois"):
        env.store.deliver(USER, message(subject))
    raw.command("s", "SELECT INBOX")
    other = env.logged_in()
    other.select("INBOX")
    other.store("1", "+FLAGS", "(\\Seen $Lu)")
    noop = b"".join(raw.command("n", "NOOP"))
    assert re.search(rb"\* 1 FETCH \(UID \d+ FLAGS \([^)]*\\Seen", noop)  # RFC 3501 §7.4.2
    assert noop.index(b"* FLAGS") < noop.index(b"* 1 FETCH")  # the new keyword announced first
    other.store("3", "+FLAGS", "(\\Deleted)")
    other.expunge()
    assert b"* 3 EXPUNGE" in b"".join(raw.command("c", "CHECK"))
    raw.send(b"i IDLE\r\n")
    assert raw.line().startswith(b"+")
    other.store("2", "+FLAGS", "(\\Flagged)")
    pushed = raw.until(b"* 2 FETCH")[-1]
    assert b"\\Flagged" in pushed
    raw.send(b"DONE\r\n")
    assert raw.until(b"i ")[-1].startswith(b"i OK")
    other.logout()


def test_envelope_keeps_group_addresses(env):
    extra = "Cc: undisclosed-recipients:;\r\n"
    raw_message = message("groupe", extra=extra).replace(
        f"To: {USER}".encode(), f"To: equipe: {USER}, Autre <autre@harnais.mssante.fr>;".encode()
    )
    env.store.deliver(USER, raw_message)
    client = env.logged_in()
    client.select("INBOX")
    _, fetched = client.fetch("1", "(ENVELOPE)")
    envelope = fetched[0]
    to_list = b'((NIL NIL "equipe" NIL)(NIL NIL "docteur.test" "harnais.mssante.fr")'
    assert to_list + b'("Autre" NIL "autre" "harnais.mssante.fr")(NIL NIL NIL NIL))' in envelope  # RFC 3501 §7.4.2
    assert b'((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))' in envelope
    client.logout()


def test_search_from_matches_an_address_written_with_comments(env):
    commented = message("commentaires").replace(
        f"From: Expediteur Test <{SENDER}>".encode(), b"From: expediteur (le service) @ (test) harnais.mssante.fr"
    )
    env.store.deliver(USER, commented)
    env.store.deliver(USER, message("autre", sender="quelqu.un@harnais.mssante.fr"))
    client = env.logged_in()
    client.select("INBOX")
    assert client.search(None, "FROM", SENDER)[1] == [b"1"]
    assert client.search(None, "FROM", '"le service"')[1] == [b"1"]  # the raw text still matches
    client.logout()


def test_a_folder_made_again_has_its_new_messages_recent(env):
    """imaptest deletes and recreates its folder before each script: the new messages are \\Recent (RFC 3501 §2.3.2)."""
    client = env.logged_in()
    client.create("Cycle")
    client.append("Cycle", None, None, message("premier passage"))
    assert client.select("Cycle")[0] == "OK"  # takes the first message's \Recent for this session
    assert client.response("RECENT")[1] == [b"1"]
    client.close()
    client.delete("Cycle")
    client.create("Cycle")
    client.append("Cycle", None, None, message("second passage, un"))
    client.append("Cycle", None, None, message("second passage, deux"))
    client.select("Cycle", readonly=True)
    assert client.response("RECENT")[1] == [b"2"]  # UIDs start again at 1, yet nobody has seen these
    _, fetched = client.fetch("1:2", "(FLAGS)")
    assert all(b"\\Recent" in line for line in fetched)
    client.close()
    client.rename("Cycle", "Renomme")
    client.select("Renomme")
    assert client.response("RECENT")[1] == [b"2"]  # a rename keeps which messages were seen
    client.close()
    client.select("Renomme")
    assert client.response("RECENT")[1] == [b"0"]
    client.logout()


def _envelope_of(env: Env, header: str) -> bytes:
    env.store.deliver(USER, f"Date: Tue, 07 Jan 2025 09:30:00 +0100\r\n{header}\r\nbonjour\r\n".encode())
    client = env.logged_in()
    client.select("INBOX")
    _, fetched = client.fetch("1", "(ENVELOPE)")
    client.logout()
    return fetched[0]


def test_envelope_names_a_bare_address_after_its_comment(env):
    envelope = _envelope_of(env, "From: secretariat@clinique.example (Secretariat Cardio)\r\n")
    assert b'(("Secretariat Cardio" NIL "secretariat" "clinique.example"))' in envelope  # as Dovecot
    assert b'NIL NIL "secretariat"' not in envelope


def test_envelope_sender_and_reply_to_present_but_empty_are_the_from_member(env):
    envelope = _envelope_of(env, "From: Dr Martin <martin@clinique.example>\r\nSender: \r\nReply-To:\r\n")
    sender = b'(("Dr Martin" NIL "martin" "clinique.example"))'
    assert envelope.count(sender) == 3  # from, sender, reply-to: RFC 3501 §7.4.2 "or are present but empty"


def test_envelope_keeps_a_source_route_in_the_adl_field(env):
    envelope = _envelope_of(env, "From: <@relais.example,@autre.example:martin@clinique.example>\r\n")
    assert b'((NIL "@relais.example,@autre.example" "martin" "clinique.example"))' in envelope  # RFC 3501 §7.4.2


def test_envelope_of_an_address_header_the_parser_cannot_walk_is_still_served(env):
    envelope = _envelope_of(env, "From: : >.@b;; :\tb@\r\n")  # a group where a mailbox was expected
    assert envelope.startswith(b"1 (ENVELOPE (")


def test_copy_reads_its_sequence_numbers_before_telling_of_another_sessions_expunge(env, raw):
    """The client numbered COPY's messages before hearing of the expunge (RFC 3501 §7.4.1, imaptest stress mode)."""
    for subject in ("un", "deux", "trois"):
        env.store.deliver(USER, message(subject))
    raw.command("s", "SELECT INBOX")
    raw.command("c", "CREATE Archives")
    other = env.logged_in()
    other.select("INBOX")
    other.store("1", "+FLAGS", "(\\Deleted)")
    other.expunge()
    other.logout()
    copied = raw.command("k", "COPY 2 Archives")  # "deux" in this session's numbering
    assert copied[-1].startswith(b"k OK")
    assert b"* 1 EXPUNGE\r\n" in copied  # told after the copy, in the same response
    assert [m.raw.split(b"Subject: ")[1].split(b"\r\n")[0] for m in env.store.messages(USER, "Archives")] == [b"deux"]
    assert raw.command("m", "COPY 2 Archives")[-1].startswith(b"m OK")  # now "trois"
    assert raw.command("n", "COPY 3 Archives")[-1].startswith(b"n BAD")  # no longer exists


def test_search_says_expungeissued_when_it_cannot_tell_of_another_sessions_expunge(env, raw):
    """SEARCH may not send EXPUNGE (RFC 3501 §7.4.1): RFC 5530 §3's EXPUNGEISSUED warns the client instead."""
    for subject in ("un", "deux", "trois"):
        env.store.deliver(USER, message(subject))
    raw.command("s", "SELECT INBOX")
    assert raw.command("a", "SEARCH ALL")[-1] == b"a OK SEARCH completed\r\n"
    other = env.logged_in()
    other.select("INBOX")
    other.store("1", "+FLAGS", "(\\Deleted)")
    other.expunge()
    other.logout()
    searched = raw.command("b", "SEARCH ALL")
    assert searched[0] == b"* SEARCH 2 3\r\n" and not any(b"EXPUNGE\r\n" in line for line in searched)
    assert searched[-1].startswith(b"b OK [EXPUNGEISSUED]")
    assert b"* 1 EXPUNGE\r\n" in raw.command("n", "NOOP")
    assert raw.command("c", "SEARCH ALL")[-1] == b"c OK SEARCH completed\r\n"


def test_a_keyword_of_a_message_another_session_appended_is_announced_before_fetch_shows_it(env, raw):
    env.store.deliver(USER, message("un"))
    raw.command("s", "SELECT INBOX")
    other = env.logged_in()
    other.append("INBOX", "($Etiquette5 \\Flagged)", None, message("deux"))
    other.logout()
    told = b"".join(raw.command("n", "NOOP"))
    assert b"* 2 EXISTS" in told
    assert re.search(rb"\* FLAGS \([^)]*\$Etiquette5", told)  # RFC 3501 §7.2.6, imaptest stress mode
    assert re.search(rb"PERMANENTFLAGS \([^)]*\$Etiquette5", told)
    assert b"$Etiquette5" in b"".join(raw.command("f", "FETCH 2 FLAGS"))
