"""The only code that imports boto3: sessions, observation, and the calls that apply a plan."""
