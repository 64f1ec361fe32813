"""Pure checks: what is observed, in; verdicts out (show's gates, verify, shared-with-me, doctor, audit)."""
