"""The lab model: the lab file as validated data (spec.py), resolved into a Lab (lab.py)."""
