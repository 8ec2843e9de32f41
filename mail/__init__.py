"""Email as an integration: building a message with the stdlib, sending it over SMTP."""
