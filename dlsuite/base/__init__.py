"""The bottom layer of dlsuite: atomic files, versions, argument checks.

Every other package (`dlsuite.core_layers`, `dlsuite.serving`, `dlsuite.apps`) may import this
one; it imports none of them and nothing heavy.
"""
