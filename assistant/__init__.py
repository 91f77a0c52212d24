"""Answers questions from source documents and cites the exact passages it used."""
