"""Pure policy algebra: what a principal needs on a key, key policy edits, IAM policy evaluation."""
