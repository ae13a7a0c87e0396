"""Benchmarks for kg: a synthetic corpus generator, timing helpers, and `python -m bench`.

This package is outside ``kg/``: it may import rdflib, pyshacl and pyoxigraph directly, because the
baselines it measures kg against are those libraries used on their own.
"""
