"""AWS integration: the only package (besides ``llm.bedrock*``) that imports boto3."""
