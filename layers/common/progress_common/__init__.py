"""Shared layer of the progress service: identity, settings, database access, streaks, HTTP plumbing.

Every read and write of progress data goes through this package, so what a learner sees is what
they did. Modules import lazily what only some paths need (boto3, powertools event handler).
"""
