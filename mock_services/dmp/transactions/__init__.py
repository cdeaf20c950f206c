"""The DMP's business behaviour, one method per transaction (TD0.2 to TD3.3).

Rights follow the matrix summarised in facts §2.3: feeding needs no authorisation but a
blocked professional gets nothing; consultation needs a valid authorisation or an emergency
mode the patient did not oppose; documents masked from professionals are seen by their author
only; masking, archiving and deletion belong to the author (or the author's structure when
authentication is indirect).

The package: ``model`` (the actor, the answer, the refusals), ``rights`` (patients and rights),
``entries`` (the registry's copy of a DocumentEntry), one module per group of transactions
(``authorisations``: TD0.2-TD0.4; ``feeding``: TD2.1; ``consultation``: TD3.1, TD3.2;
``updates``: TD3.3), ``seed`` (each realm's first documents) and ``dispatch`` (running a
transaction). The names below are what the endpoint uses.
"""

from mock_services.dmp.transactions.dispatch import Transactions
from mock_services.dmp.transactions.model import Actor, Answer, BusinessError, Refusal

__all__ = ["Actor", "Answer", "BusinessError", "Refusal", "Transactions"]
