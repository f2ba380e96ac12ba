"""The vocabulary every layer shares: manifest and report models, criteria and levels, the rule registry, schemas, schedules."""
