"""Snippet features for temporal localization (`tsn features`)."""
