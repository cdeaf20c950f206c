"""The MSSanté operator's IMAP service: an IMAP4rev1 subset (RFC 3501) over the shared mail store.

Products read their MSSanté mailbox over IMAP (implicit TLS, port 993 style; or STARTTLS on a
port 143 style listener), so the mock has to speak enough IMAP for imaplib, curl, JavaMail-like
and Thunderbird-like clients, and record every command it handles (``on_command``).

Supported: CAPABILITY, NOOP, LOGOUT, ID, STARTTLS, LOGIN, AUTHENTICATE (PLAIN, XOAUTH2,
OAUTHBEARER, EXTERNAL; SASL-IR), SELECT, EXAMINE, LIST, LSUB, STATUS, NAMESPACE, CREATE, DELETE
(with its messages, RFC 3501 §6.3.4; not INBOX or Sent), RENAME (not of INBOX, Sent or the selected
folder), SUBSCRIBE/UNSUBSCRIBE (LSUB lists what is subscribed; INBOX and Sent to begin with),
APPEND, IDLE, CHECK, CLOSE, UNSELECT, EXPUNGE, SEARCH, FETCH, STORE, COPY, MOVE, and UID
FETCH/SEARCH/STORE/COPY/MOVE/EXPUNGE (UIDPLUS: APPENDUID, COPYUID). Literals ``{n}`` and
``{n+}`` (LITERAL+) at the end of any line of a command. Not supported: RENAME of INBOX, ENABLE,
CONDSTORE/QRESYNC, LIST-EXTENDED, BINARY, COMPRESS, SORT/THREAD, MULTIAPPEND, modified UTF-7
decoding of folder names (names are passed through as stored).

Choices, and why:

* A principal may own several mailboxes (an ORG certificate often maps to several). The default
  one (the login name when it is one of them, else the first in sorted order) is the top-level
  namespace (``INBOX``, ``Sent``...); the others appear as ``<address>/INBOX`` and so on, so one
  session can reach all of them without inventing a proxy-authentication scheme.
* ``INBOX`` and ``Sent`` always exist, so a product can save what it sent without a CREATE;
  other folders exist when the store holds messages in them or after a CREATE, which is only
  remembered in memory (APPEND to an unknown folder answers NO [TRYCREATE], as RFC 3501 asks).
* Messages are served byte for byte as stored, with the internal date APPEND gave (else the time
  of delivery); COPY keeps it. Each folder has its own UIDVALIDITY, kept in the store; a folder
  deleted and made again gets a new one.
* A keyword a client sets is announced with an untagged FLAGS (and PERMANENTFLAGS) before the
  FETCH that shows it; SELECT lists the folder's keywords in both.
* \\Recent is session state only: the first session that selects a folder after a message arrived
  sees it as recent (a folder deleted and made again starts afresh; a renamed one keeps it).
* UID EXPUNGE and MOVE expunge only their own messages: the store can only expunge every
  \\Deleted message of a folder, so the other \\Deleted flags are lifted for the duration, under
  the server's lock.
* Changes another session made are told on the next command, NOOP, CHECK or while IDLE: FETCH
  FLAGS and EXISTS (after a FLAGS naming any new keyword), EXPUNGE (after the command has read
  its message set; never during FETCH, STORE, SEARCH: a SEARCH that had to leave such messages
  out answers ``OK [EXPUNGEISSUED]``, RFC 5530).
* Limits (line length, literal size, idle time, authentication failures) are enforced per
  connection; anything unexpected closes that connection only, never the listener.

The package: ``settings`` (limits, the operator's rules, the principal), ``parser`` (command
lines into tokens, sets, flags, FETCH items), ``responses`` (formatting what is sent), ``mime``
(structure over the raw bytes), ``server_state`` (what the sessions of one server share), the
session in layers (``connection``: state and I/O; ``authentication``; ``folder_commands``;
``message_commands``; ``search``; ``session``: the command loop) and ``server`` (the server and
its listener). The names below are its interface.
"""

from mock_services.mssante.imap.server import ImapServer, ServedImap, serve_imap
from mock_services.mssante.imap.settings import Authenticator, CommandEvent, ImapSettings, Principal

__all__ = ["Authenticator", "CommandEvent", "ImapServer", "ImapSettings", "Principal", "ServedImap", "serve_imap"]
