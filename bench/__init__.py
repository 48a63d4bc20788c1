"""`make bench`: the article's claims measured on the local cloud (not a test)."""
