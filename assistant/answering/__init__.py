"""Extractive and generative answerers, citation markers and their verification."""
