"""Use cases: the only door from the UI, the CLI and the scenario runner to the data.

Every use case checks the actor's role, runs in one transaction and writes its audit row in
that same transaction.
"""
