"""Sending email tasks: the document gate, claims, composition, the record; no Prefect here."""
