"""Benchmark scripts: each prints our figure beside the raw library's or a published one."""
