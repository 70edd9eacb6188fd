"""The journey processor: gates, alert rules, consent and the contact budget."""
