"""Probes of the machine and the model beside the cells: `calibrate` (the measured matrix-multiply peak) and
`layers` (where a model's time goes by layer kind), each with the worker process it runs in. This file imports
nothing: the workers import the package before they pin themselves.
"""
