"""Generated artefacts: least-privilege IAM policies, their documentation, CloudFormation templates."""
