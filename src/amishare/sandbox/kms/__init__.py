"""KMS: multi-account keys, aliases, enforced key policies and grants.

Rules (docs/aws-facts.md section 2; KMS Developer Guide "Key policies", "Grants",
"Allowing users in other accounts to use a KMS key", "AWS managed keys"):

* every account and region has an AWS managed key ``alias/aws/ebs`` (``KeyManager: AWS``)
  whose policy lets only principals of that account use it, only through EC2 of that region;
* a customer managed key's policy is evaluated on every call (explicit Deny wins), then its
  grants; principals of the owning account need the policy too (``arn:aws:iam::<acct>:root``
  delegates to IAM, which the sandbox does not model: such a statement allows the account);
* another account's key is reachable only by key ARN or alias ARN, and only for the
  operations KMS supports across accounts;
* key state: a disabled key refuses cryptographic use (``DisabledException``), a key pending
  deletion refuses everything but describing it and reading or managing its policy, grants and tags
  (``KMSInvalidStateException``; KMS Developer Guide "Key states of AWS KMS keys");
* a key policy is at most 32,768 bytes, and PutKeyPolicy refuses a policy that would lock the
  caller out unless ``BypassPolicyLockoutSafetyCheck`` is set.

Modules: ``keys`` (the world's keys and aliases: create, resolve, the policies keys are born with),
``access`` (who may use a key for what: policy, grants, SCPs; the resolution and authorization every
call goes through), and one module of handlers per concern: ``key_handlers`` (keys, aliases, tags),
``policy_handlers`` (key policies), ``grant_handlers`` (grants), ``crypto_handlers`` (encrypt, decrypt,
data keys).
"""
